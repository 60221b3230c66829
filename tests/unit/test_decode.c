/* tests/unit/test_decode.c — the x86 instruction decoder (src/x86/decode.c):
 * lengths of known encodings in 64-, 32- and 16-bit code, operand fields,
 * invalid and truncated input, and a random-bytes loop that must never
 * read past the buffer (run it under ASan). The expected lengths were
 * cross-checked once with `objdump -d` of assembled sources; they are
 * plain data here. */
#include <stdlib.h>

#include "unit.h"
#include "x86/decode.h"

struct known {
  unsigned mode;
  const char *bytes;
  unsigned len;
  const char *text; /* what the bytes are, for failure messages */
};

static const struct known known[] = {
  {64, "\x90", 1, "nop"},
  {64, "\xcc", 1, "int3"},
  {64, "\x0f\x0b", 2, "ud2"},
  {64, "\xcd\x80", 2, "int $0x80"},
  {64, "\xf0\x48\x0f\xc7\x0f", 5, "lock cmpxchg16b (%rdi)"},
  {64, "\x0f\xae\x27", 3, "xsave (%rdi)"},
  {64, "\x0f\xae\x6c\x24\x10", 5, "xrstor 0x10(%rsp)"},
  {64, "\x0f\xae\xb4\x98\x78\x56\x34\x12", 8, "xsaveopt 0x12345678(%rax,%rbx,4)"},
  {64, "\x41\x0f\xc7\x24\x24", 5, "xsavec (%r12)"},
  {64, "\x41\x0f\xc7\x6d\x00", 5, "xsaves 0x0(%r13)"},
  {64, "\x48\x89\xc3", 3, "mov %rax,%rbx"},
  {64, "\x49\xba\x88\x77\x66\x55\x44\x33\x22\x11", 10, "movabs $0x1122334455667788,%r10"},
  {64, "\xb8\x44\x33\x22\x11", 5, "mov $0x11223344,%eax"},
  {64, "\x66\xc7\x00\x22\x11", 5, "movw $0x1122,(%rax)"},
  {64, "\xc6\x45\x08\x11", 4, "movb $0x11,0x8(%rbp)"},
  {64, "\xc7\x84\x24\x80\x00\x00\x00\x44\x33\x22\x11", 11, "movl $0x11223344,0x80(%rsp)"},
  {64, "\x48\xc7\x05\x00\x00\x00\x00\xff\xff\xff\xff", 11, "movq $0xffffffffffffffff,0x0(%rip)"},
  {64, "\x48\x8d\x05\x00\x01\x00\x00", 7, "lea 0x100(%rip),%rax"},
  {64, "\x83\xc0\x01", 3, "add $0x1,%eax"},
  {64, "\x05\x00\x10\x00\x00", 5, "add $0x1000,%eax"},
  {64, "\x66\x05\x00\x10", 4, "add $0x1000,%ax"},
  {64, "\x48\x83\x04\xc8\x05", 5, "addq $0x5,(%rax,%rcx,8)"},
  {64, "\x41\x57", 2, "push %r15"},
  {64, "\x6a\x12", 2, "push $0x12"},
  {64, "\x68\x34\x12\x00\x00", 5, "push $0x1234"},
  {64, "\x66\x68\x34\x12", 4, "pushw $0x1234"},
  {64, "\xe8\xfb\x00\x00\x00", 5, "call 0x17b"},
  {64, "\xeb\x0e", 2, "jmp 0x90"},
  {64, "\xe9\xfb\x0f\x00\x00", 5, "jmp 0x1082"},
  {64, "\x75\x0e", 2, "jne 0x97"},
  {64, "\x0f\x85\xfa\x0f\x00\x00", 6, "jne 0x1089"},
  {64, "\xc3", 1, "ret"},
  {64, "\xc2\x08\x00", 3, "ret $0x8"},
  {64, "\xc8\x10\x00\x01", 4, "enter $0x10,$0x1"},
  {64, "\xc9", 1, "leave"},
  {64, "\xa0\x88\x77\x66\x55\x44\x33\x22\x11", 9, "movabs 0x1122334455667788,%al"},
  {64, "\x48\xa1\x88\x77\x66\x55\x44\x33\x22\x11", 10, "movabs 0x1122334455667788,%rax"},
  {64, "\xa3\x88\x77\x66\x55\x44\x33\x22\x11", 9, "movabs %eax,0x1122334455667788"},
  {64, "\xa8\x01", 2, "test $0x1,%al"},
  {64, "\xf6\x00\x01", 3, "testb $0x1,(%rax)"},
  {64, "\xf7\x00\x00\x01\x00\x00", 6, "testl $0x100,(%rax)"},
  {64, "\xf7\x10", 2, "notl (%rax)"},
  {64, "\x48\xf7\xda", 3, "neg %rdx"},
  {64, "\x6b\xc8\x10", 3, "imul $0x10,%eax,%ecx"},
  {64, "\x69\xc8\x00\x10\x00\x00", 6, "imul $0x1000,%eax,%ecx"},
  {64, "\x48\xc1\xe0\x03", 4, "shl $0x3,%rax"},
  {64, "\x48\xd3\xe0", 3, "shl %cl,%rax"},
  {64, "\x48\xd1\xc0", 3, "rol %rax"},
  {64, "\x0f\x20\xc0", 3, "mov %cr0,%rax"},
  {64, "\x0f\x22\xe0", 3, "mov %rax,%cr4"},
  {64, "\x0f\x21\xf8", 3, "mov %db7,%rax"},
  {64, "\x0f\xa2", 2, "cpuid"},
  {64, "\x0f\x31", 2, "rdtsc"},
  {64, "\x0f\x01\xf9", 3, "rdtscp"},
  {64, "\x0f\x32", 2, "rdmsr"},
  {64, "\x0f\x30", 2, "wrmsr"},
  {64, "\x0f\x05", 2, "syscall"},
  {64, "\x0f\x07", 2, "sysretl"},
  {64, "\x0f\x01\xf8", 3, "swapgs"},
  {64, "\x0f\x01\x10", 3, "lgdt (%rax)"},
  {64, "\x0f\x01\x58\x10", 4, "lidt 0x10(%rax)"},
  {64, "\x0f\x01\x3f", 3, "invlpg (%rdi)"},
  {64, "\xf3\x0f\xb8\xc1", 4, "popcnt %ecx,%eax"},
  {64, "\xf3\x48\x0f\xbd\xc1", 5, "lzcnt %rcx,%rax"},
  {64, "\x49\x0f\xc9", 3, "bswap %r9"},
  {64, "\x48\x0f\x45\xd8", 4, "cmovne %rax,%rbx"},
  {64, "\x0f\x94\xc0", 3, "sete %al"},
  {64, "\x0f\xb6\x06", 3, "movzbl (%rsi),%eax"},
  {64, "\x48\x0f\xbe\xd0", 4, "movsbq %al,%rdx"},
  {64, "\x48\x63\xd0", 3, "movslq %eax,%rdx"},
  {64, "\x0f\xba\xe0\x05", 4, "bt $0x5,%eax"},
  {64, "\x0f\xa4\xc3\x03", 4, "shld $0x3,%eax,%ebx"},
  {64, "\x0f\xad\xc3", 3, "shrd %cl,%eax,%ebx"},
  {64, "\x66\x0f\x6f\x07", 4, "movdqa (%rdi),%xmm0"},
  {64, "\xf3\x44\x0f\x7f\x46\x10", 6, "movdqu %xmm8,0x10(%rsi)"},
  {64, "\x66\x0f\x70\xd1\x1b", 5, "pshufd $0x1b,%xmm1,%xmm2"},
  {64, "\x66\x0f\x3a\x22\xc0\x01", 6, "pinsrd $0x1,%eax,%xmm0"},
  {64, "\x66\x48\x0f\x3a\x16\xc0\x01", 7, "pextrq $0x1,%xmm0,%rax"},
  {64, "\x66\x0f\x3a\x0f\xd1\x04", 6, "palignr $0x4,%xmm1,%xmm2"},
  {64, "\x66\x0f\x38\x00\xd1", 5, "pshufb %xmm1,%xmm2"},
  {64, "\xf2\x0f\x38\xf1\xc1", 5, "crc32 %ecx,%eax"},
  {64, "\xf2\x0f\x38\xf0\x00", 5, "crc32b (%rax),%eax"},
  {64, "\x0f\x38\xf0\x07", 4, "movbe (%rdi),%eax"},
  {64, "\x66\x0f\x38\xdc\xc1", 5, "aesenc %xmm1,%xmm0"},
  {64, "\x66\x0f\x3a\x44\xc1\x11", 6, "pclmulhqhqdq %xmm1,%xmm0"},
  {64, "\x0f\x38\xc9\xc1", 4, "sha1msg1 %xmm1,%xmm0"},
  {64, "\xc5\xe9\xef\xd9", 4, "vpxor %xmm1,%xmm2,%xmm3"},
  {64, "\xc5\xed\xfe\xd9", 4, "vpaddd %ymm1,%ymm2,%ymm3"},
  {64, "\xc5\xfd\x6f\x00", 4, "vmovdqa (%rax),%ymm0"},
  {64, "\xc4\x01\x7e\x6f\x7c\x6c\x40", 7, "vmovdqu 0x40(%r12,%r13,2),%ymm15"},
  {64, "\xc4\xe2\x69\xb8\xd9", 5, "vfmadd231ps %xmm1,%xmm2,%xmm3"},
  {64, "\xc4\xe3\xfd\x00\xd1\x1b", 6, "vpermq $0x1b,%ymm1,%ymm2"},
  {64, "\xc5\xf8\x77", 3, "vzeroupper"},
  {64, "\xc5\xf9\x70\xc8\x01", 5, "vpshufd $0x1,%xmm0,%xmm1"},
  {64, "\xc4\xe2\x60\xf2\xc1", 5, "andn %ecx,%ebx,%eax"},
  {64, "\xc4\xe2\xe3\xf5\xc1", 5, "pdep %rcx,%rbx,%rax"},
  {64, "\xc4\xe2\x70\xf7\x07", 5, "bextr %ecx,(%rdi),%eax"},
  {64, "\xc4\xe3\x7b\xf0\xd8\x03", 6, "rorx $0x3,%eax,%ebx"},
  {64, "\x62\xf1\x6d\x48\xfe\xd9", 6, "vpaddd %zmm1,%zmm2,%zmm3"},
  {64, "\x62\xf1\xfe\x48\x6f\x40\x01", 7, "vmovdqu64 0x40(%rax),%zmm0"},
  {64, "\x62\xf3\x6d\x48\x25\xd9\xff", 7, "vpternlogd $0xff,%zmm1,%zmm2,%zmm3"},
  {64, "\x66\x0f\x38\xf6\xc1", 5, "adcx %ecx,%eax"},
  {64, "\x0f\xae\x3f", 3, "clflush (%rdi)"},
  {64, "\x66\x0f\xae\x3f", 4, "clflushopt (%rdi)"},
  {64, "\x66\x0f\xae\x37", 4, "clwb (%rdi)"},
  {64, "\x0f\xae\xf0", 3, "mfence"},
  {64, "\x0f\xae\xe8", 3, "lfence"},
  {64, "\x0f\xae\xf8", 3, "sfence"},
  {64, "\x0f\x09", 2, "wbinvd"},
  {64, "\x66\x0f\x38\x82\x0f", 5, "invpcid (%rdi),%rcx"},
  {64, "\xf3\x48\x0f\xae\xc0", 5, "rdfsbase %rax"},
  {64, "\xf3\x49\x0f\xae\xd8", 5, "wrgsbase %r8"},
  {64, "\x0f\x01\x07", 3, "sgdt (%rdi)"},
  {64, "\x0f\x00\xc8", 3, "str %eax"},
  {64, "\x0f\x02\xc1", 3, "lar %ecx,%eax"},
  {64, "\x0f\x00\xe1", 3, "verr %cx"},
  {64, "\x0f\x01\xe0", 3, "smsw %eax"},
  {64, "\xf3\x90", 2, "pause"},
  {64, "\x0f\x0d\x0f", 3, "prefetchw (%rdi)"},
  {64, "\x0f\xc3\x0f", 3, "movnti %ecx,(%rdi)"},
  {64, "\xf3\xa4", 2, "rep movsb %ds:(%rsi),%es:(%rdi)"},
  {64, "\xf3\x48\xab", 3, "rep stos %rax,%es:(%rdi)"},
  {64, "\xf2\xae", 2, "repnz scas %es:(%rdi),%al"},
  {64, "\x48\xcf", 2, "iretq"},
  {64, "\xfa", 1, "cli"},
  {64, "\xfb", 1, "sti"},
  {64, "\x9c", 1, "pushf"},
  {64, "\x9d", 1, "popf"},
  {64, "\x44\x0f\x20\xc0", 4, "mov %cr8,%rax"},
  {64, "\x0f\x33", 2, "rdpmc"},
  {64, "\xf4", 1, "hlt"},
  {64, "\xe4\x60", 2, "in $0x60,%al"},
  {64, "\xe6\x80", 2, "out %al,$0x80"},
  {64, "\xed", 1, "in (%dx),%eax"},
  {64, "\x6e", 1, "outsb %ds:(%rsi),(%dx)"},
  {64, "\xd9\xe8", 2, "fld1"},
  {64, "\xdd\xd8", 2, "fstp %st(0)"},
  {64, "\xd9\x28", 2, "fldcw (%rax)"},
  {64, "\xdf\xe0", 2, "fnstsw %ax"},
  {64, "\x0f\xae\x07", 3, "fxsave (%rdi)"},
  {64, "\x48\x0f\xae\x0f", 4, "fxrstor64 (%rdi)"},
  {64, "\x0f\xae\x17", 3, "ldmxcsr (%rdi)"},
  {64, "\x0f\xae\x5f\x04", 4, "stmxcsr 0x4(%rdi)"},
  {64, "\x0f\x01\xd0", 3, "xgetbv"},
  {64, "\x0f\x01\xd1", 3, "xsetbv"},
  {64, "\x0f\x01\xc1", 3, "vmcall"},
  {64, "\x0f\x01\xd9", 3, "vmmcall"},
  {64, "\x0f\xc7\xf0", 3, "rdrand %eax"},
  {64, "\x48\x0f\xc7\xf8", 4, "rdseed %rax"},
  {64, "\xf3\x0f\xc7\xf8", 4, "rdpid %rax"},
  {64, "\x49\x90", 2, "xchg %rax,%r8"},
  {64, "\x87\xc0", 2, "xchg %eax,%eax"},
  {64, "\xf0\x0f\xc1\x0f", 4, "lock xadd %ecx,(%rdi)"},
  {64, "\xf0\xff\x00", 3, "lock incl (%rax)"},
  {64, "\x64\x48\x8b\x04\x25\x28\x00\x00\x00", 9, "mov %fs:0x28,%rax"},
  {64, "\x65\x8b\x18", 3, "mov %gs:(%rax),%ebx"},
  {64, "\x67\x8b\x18", 3, "mov (%eax),%ebx"},
  {64, "\x41\x8b\x45\x00", 4, "mov 0x0(%r13),%eax"},
  {64, "\x41\x8b\x04\x24", 4, "mov (%r12),%eax"},
  {64, "\x8b\x45\x00", 3, "mov 0x0(%rbp),%eax"},
  {64, "\x8b\x1c\xc5\x00\x00\x00\x00", 7, "mov 0x0(,%rax,8),%ebx"},
  {64, "\x8b\x04\x25\x78\x56\x34\x12", 7, "mov 0x12345678,%eax"},
  {64, "\x8b\x04\x24", 3, "mov (%rsp),%eax"},
  {64, "\x36\x8b\x03", 3, "ss mov (%rbx),%eax"},
  {64, "\x66\x0f\x1f\x04\x00", 5, "nopw (%rax,%rax,1)"},
  {64, "\x0f\x1f\x00", 3, "nopl (%rax)"},
  {64, "\xf3\x0f\x1e\xfa", 4, "endbr64"},
  {64, "\x0f\xb9\x00", 3, "ud1 (%rax),%eax"},
  {64, "\x0f\x18\x08", 3, "prefetcht0 (%rax)"},
  {64, "\x0f\x01\xc8", 3, "monitor %rax,%ecx,%edx"},
  {64, "\x0f\x01\xc9", 3, "mwait %eax,%ecx"},
  {64, "\xc7\xf8\xfa\x00\x00\x00", 6, "xbegin 0x390"},
  {64, "\x0f\x01\xd5", 3, "xend"},
  {64, "\x0f\x01\xd6", 3, "xtest"},
  {64, "\xf1", 1, "int1"},
  {64, "\xcb", 1, "lret"},
  {64, "\xca\x04\x00", 3, "lret $0x4"},
  {64, "\x0f\x34", 2, "sysenter"},
  {32, "\x90", 1, "nop"},
  {32, "\xcc", 1, "int3"},
  {32, "\xcd\x80", 2, "int $0x80"},
  {32, "\x89\xc3", 2, "mov %eax,%ebx"},
  {32, "\xb8\x44\x33\x22\x11", 5, "mov $0x11223344,%eax"},
  {32, "\x66\xc7\x00\x22\x11", 5, "movw $0x1122,(%eax)"},
  {32, "\xa1\x78\x56\x34\x12", 5, "mov 0x12345678,%eax"},
  {32, "\x8b\x45\x00", 3, "mov 0x0(%ebp),%eax"},
  {32, "\x8b\x1c\x85\x00\x00\x00\x00", 7, "mov 0x0(,%eax,4),%ebx"},
  {32, "\x8b\x44\x24\x10", 4, "mov 0x10(%esp),%eax"},
  {32, "\x06", 1, "push %es"},
  {32, "\x1f", 1, "pop %ds"},
  {32, "\x60", 1, "pusha"},
  {32, "\x61", 1, "popa"},
  {32, "\x40", 1, "inc %eax"},
  {32, "\x49", 1, "dec %ecx"},
  {32, "\x37", 1, "aaa"},
  {32, "\x27", 1, "daa"},
  {32, "\xd4\x0a", 2, "aam $0xa"},
  {32, "\xd5\x0a", 2, "aad $0xa"},
  {32, "\xe8\xfb\x00\x00\x00", 5, "call 0x12f"},
  {32, "\xe9\xfb\x0f\x00\x00", 5, "jmp 0x1034"},
  {32, "\xeb\x0e", 2, "jmp 0x49"},
  {32, "\xea\x00\x10\x00\x00\x10\x00", 7, "ljmp $0x10,$0x1000"},
  {32, "\x9a\x00\x10\x00\x00\x10\x00", 7, "lcall $0x10,$0x1000"},
  {32, "\xc4\x00", 2, "les (%eax),%eax"},
  {32, "\xc5\x58\x04", 3, "lds 0x4(%eax),%ebx"},
  {32, "\x62\x03", 2, "bound %eax,(%ebx)"},
  {32, "\x67\x8b\x00", 3, "mov (%bx,%si),%eax"},
  {32, "\x67\x8b\x43\x10", 4, "mov 0x10(%bp,%di),%eax"},
  {32, "\x67\xa1\x34\x12", 4, "addr16 mov 0x1234,%eax"},
  {32, "\xf0\x0f\xc7\x0f", 4, "lock cmpxchg8b (%edi)"},
  {32, "\xc5\xe9\xef\xd9", 4, "vpxor %xmm1,%xmm2,%xmm3"},
  {32, "\xc5\xec\x58\xd9", 4, "vaddps %ymm1,%ymm2,%ymm3"},
  {32, "\x62\xf1\x6d\x48\xfe\xd9", 6, "vpaddd %zmm1,%zmm2,%zmm3"},
  {32, "\x66\x0f\x6f\x00", 4, "movdqa (%eax),%xmm0"},
  {32, "\xce", 1, "into"},
  {32, "\xd6", 1, "salc"},
  {32, "\x63\x03", 2, "arpl %ax,(%ebx)"},
  {32, "\x0f\x20\xc0", 3, "mov %cr0,%eax"},
  {32, "\x68\x34\x12\x00\x00", 5, "push $0x1234"},
  {32, "\x6a\x01", 2, "push $0x1"},
  {32, "\x69\x18\x00\x01\x00\x00", 6, "imul $0x100,(%eax),%ebx"},
  {32, "\xf7\x00\x01\x00\x00\x00", 6, "testl $0x1,(%eax)"},
  {32, "\xc8\x08\x00\x00", 4, "enter $0x8,$0x0"},
  {32, "\xc2\x04\x00", 3, "ret $0x4"},
  {16, "\x90", 1, "nop"},
  {16, "\xcc", 1, "int3"},
  {16, "\x89\xc3", 2, "mov %ax,%bx"},
  {16, "\xb8\x22\x11", 3, "mov $0x1122,%ax"},
  {16, "\x66\xb8\x44\x33\x22\x11", 6, "mov $0x11223344,%eax"},
  {16, "\x8b\x00", 2, "mov (%bx,%si),%ax"},
  {16, "\x8b\x46\x10", 3, "mov 0x10(%bp),%ax"},
  {16, "\x8b\x81\x34\x12", 4, "mov 0x1234(%bx,%di),%ax"},
  {16, "\xa1\x34\x12", 3, "mov 0x1234,%ax"},
  {16, "\x67\x8b\x00", 3, "mov (%eax),%ax"},
  {16, "\x67\x8b\x44\x98\x12", 5, "mov 0x12(%eax,%ebx,4),%ax"},
  {16, "\xc7\x07\x22\x11", 4, "movw $0x1122,(%bx)"},
  {16, "\x66\xc7\x07\x44\x33\x22\x11", 7, "movl $0x11223344,(%bx)"},
  {16, "\xe8\xfd\x00", 3, "call 0x12c"},
  {16, "\xeb\x0e", 2, "jmp 0x3f"},
  {16, "\xe9\xfd\x0f", 3, "jmp 0x1031"},
  {16, "\xea\x00\x10\x10\x00", 5, "ljmp $0x10,$0x1000"},
  {16, "\x66\xea\x00\x10\x00\x00\x10\x00", 8, "ljmpl $0x10,$0x1000"},
  {16, "\x0f\x85\xfc\x0f", 4, "jne 0x1041"},
  {16, "\x68\x34\x12", 3, "push $0x1234"},
  {16, "\x66\x68\x78\x56\x34\x12", 6, "pushl $0x12345678"},
  {16, "\xc4\x07", 2, "les (%bx),%ax"},
  {16, "\x0f\x01\x17", 3, "lgdtw (%bx)"},
  {16, "\x0f\x20\xc0", 3, "mov %cr0,%eax"},
  {16, "\xe4\x60", 2, "in $0x60,%al"},
  {16, "\xe6\x80", 2, "out %al,$0x80"},
  {16, "\xf3\xa4", 2, "rep movsb %ds:(%si),%es:(%di)"},
  {16, "\xcf", 1, "iret"},
  {16, "\xcb", 1, "lret"},
  {16, "\xcd\x10", 2, "int $0x10"},
  {16, "\x67\x8b\x00", 3, "mov (%eax),%ax"},
  {16, "\x67\x66\x8b\x00", 4, "mov (%eax),%eax"},
};

/* Decodes from a heap buffer of exactly `size` bytes, so that ASan sees
 * any read past the end. */
static int decode_exact(const char *bytes, size_t size, unsigned mode,
                        struct vmm__x86_insn *d) {
  memset(d, 0, sizeof(*d));
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf)
    return -100;
  memcpy(buf, bytes, size);
  int rc = vmm__x86_decode(buf, size, mode, d);
  free(buf);
  return rc;
}

static void test_known_lengths(void) {
  unsigned bad = 0;
  for (size_t i = 0; i < UNIT_COUNT(known); i++) {
    const struct known *k = &known[i];
    struct vmm__x86_insn d;
    int rc = decode_exact(k->bytes, k->len, k->mode, &d);
    if (rc != 0 || d.len != k->len) {
      fprintf(stderr, "\n  %u-bit %s: rc %d, len %u, want %u", k->mode,
              k->text, rc, d.len, k->len);
      bad++;
      continue;
    }
    /* Every proper prefix of the bytes is truncated, never accepted. */
    for (unsigned n = 0; n < k->len; n++) {
      rc = decode_exact(k->bytes, n, k->mode, &d);
      if (rc != VMM__X86_DECODE_TRUNCATED) {
        fprintf(stderr, "\n  %u-bit %s cut to %u bytes: rc %d", k->mode,
                k->text, n, rc);
        bad++;
        break;
      }
    }
    /* Trailing bytes do not change the length. */
    char more[32];
    memcpy(more, k->bytes, k->len);
    memset(more + k->len, 0x90, sizeof(more) - k->len);
    rc = decode_exact(more, sizeof(more), k->mode, &d);
    if (rc != 0 || d.len != k->len) {
      fprintf(stderr, "\n  %u-bit %s + nops: rc %d len %u", k->mode, k->text,
              rc, d.len);
      bad++;
    }
  }
  CHECK_U64(bad, 0);
}

#define DECODE(mode, lit, d)                                                  \
  decode_exact(lit, sizeof(lit) - 1, mode, d)

static void test_fields_64(void) {
  struct vmm__x86_insn d;
  /* xsaveopt 0x12345678(%rax,%rbx,4) */
  CHECK_RC(DECODE(64, "\x0f\xae\xb4\x98\x78\x56\x34\x12", &d), 0);
  CHECK_U64(d.map, VMM__X86_MAP_0F);
  CHECK_U64(d.opcode, 0xae);
  CHECK_U64(d.reg, 6);
  CHECK_U64(d.has_mem, 1);
  CHECK_U64(d.has_sib, 1);
  CHECK_U64((uint64_t)d.base, 0);
  CHECK_U64((uint64_t)d.index, 3);
  CHECK_U64(d.scale, 4);
  CHECK_U64((uint64_t)d.disp, 0x12345678);
  CHECK_U64(d.disp_size, 4);
  /* lock cmpxchg16b (%rdi): LOCK, REX.W, 0F C7 /1 */
  CHECK_RC(DECODE(64, "\xf0\x48\x0f\xc7\x0f", &d), 0);
  CHECK_U64(d.prefixes & VMM__X86_P_LOCK, VMM__X86_P_LOCK);
  CHECK_U64(d.rex, 0x48);
  CHECK_U64(d.opsize, 8);
  CHECK_U64(d.reg, 1);
  CHECK_U64((uint64_t)d.base, 7);
  /* mov -0x10(%r13,%r14,8), %r9: REX.WRXB */
  CHECK_RC(DECODE(64, "\x4f\x8b\x4c\xf5\xf0", &d), 0);
  CHECK_U64(d.len, 5);
  CHECK_U64(d.reg, 9);
  CHECK_U64((uint64_t)d.base, 13);
  CHECK_U64((uint64_t)d.index, 14);
  CHECK_U64(d.scale, 8);
  CHECK_U64((uint64_t)d.disp, (uint64_t)-16);
  /* lea 0x100(%rip), %rax */
  CHECK_RC(DECODE(64, "\x48\x8d\x05\x00\x01\x00\x00", &d), 0);
  CHECK_U64((uint64_t)d.base, (uint64_t)VMM__X86_REG_RIP);
  CHECK_U64((uint64_t)d.index, (uint64_t)VMM__X86_REG_NONE);
  CHECK_U64((uint64_t)d.disp, 0x100);
  /* mov (,%rax,8), %ebx: SIB without base, disp32 0 */
  CHECK_RC(DECODE(64, "\x8b\x1c\xc5\x00\x00\x00\x00", &d), 0);
  CHECK_U64((uint64_t)d.base, (uint64_t)VMM__X86_REG_NONE);
  CHECK_U64((uint64_t)d.index, 0);
  /* mov (%r12), %eax: SIB with base r12, no index (100 without REX.X) */
  CHECK_RC(DECODE(64, "\x41\x8b\x04\x24", &d), 0);
  CHECK_U64((uint64_t)d.base, 12);
  CHECK_U64((uint64_t)d.index, (uint64_t)VMM__X86_REG_NONE);
  /* mov $imm64, %r10 */
  CHECK_RC(DECODE(64, "\x49\xba\x88\x77\x66\x55\x44\x33\x22\x11", &d), 0);
  CHECK_U64(d.imm_size, 8);
  CHECK_U64(d.imm, 0x1122334455667788ull);
  CHECK_U64(d.rm, 10);
  /* movabs 0x1122334455667788, %al: an 8-byte moffs */
  CHECK_RC(DECODE(64, "\xa0\x88\x77\x66\x55\x44\x33\x22\x11", &d), 0);
  CHECK_U64(d.has_mem, 1);
  CHECK_U64((uint64_t)d.disp, 0x1122334455667788ull);
  /* enter $0x10, $1 */
  CHECK_RC(DECODE(64, "\xc8\x10\x00\x01", &d), 0);
  CHECK_U64(d.imm, 0x10);
  CHECK_U64(d.imm2, 1);
  /* push $0x12 defaults to 64 bits */
  CHECK_RC(DECODE(64, "\x6a\x12", &d), 0);
  CHECK_U64(d.opsize, 8);
  /* jne rel32 */
  CHECK_RC(DECODE(64, "\x0f\x85\xfa\x0f\x00\x00", &d), 0);
  CHECK_U64(d.is_branch_rel, 1);
  CHECK_U64(d.imm, 0xffa);
  /* segment override and REX dropped by a following prefix */
  CHECK_RC(DECODE(64, "\x64\x48\x8b\x04\x25\x28\x00\x00\x00", &d), 0);
  CHECK_U64(d.seg, VMM__X86_SEG_FS);
  CHECK_U64(d.opsize, 8);
  CHECK_RC(DECODE(64, "\x48\x66\x89\xc0", &d), 0); /* REX, then 66 */
  CHECK_U64(d.rex, 0);
  CHECK_U64(d.opsize, 2);
  /* mov %cr0, %rax: ModRM.mod ignored, no displacement even if mod=0 */
  CHECK_RC(DECODE(64, "\x0f\x20\x05", &d), 0);
  CHECK_U64(d.len, 3);
  CHECK_U64(d.has_mem, 0);
  /* VEX: vpaddd %ymm1, %ymm2, %ymm3 and vmovdqu 0x40(%r12,%r13,2),%ymm15 */
  CHECK_RC(DECODE(64, "\xc5\xed\xfe\xd9", &d), 0);
  CHECK_U64(d.prefixes & VMM__X86_P_VEX, VMM__X86_P_VEX);
  CHECK_U64(d.map, VMM__X86_MAP_0F);
  CHECK_U64(d.opcode, 0xfe);
  CHECK_U64(d.vex_l, 1);
  CHECK_U64(d.vex_vvvv, 2);
  CHECK_U64(d.vex_pp, 1);
  CHECK_U64(d.reg, 3);
  CHECK_RC(DECODE(64, "\xc4\x01\x7e\x6f\x7c\x6c\x40", &d), 0);
  CHECK_U64(d.reg, 15);
  CHECK_U64((uint64_t)d.base, 12);
  CHECK_U64((uint64_t)d.index, 13);
  CHECK_U64(d.scale, 2);
  /* EVEX: vpaddd %zmm1, %zmm2, %zmm3 */
  CHECK_RC(DECODE(64, "\x62\xf1\x6d\x48\xfe\xd9", &d), 0);
  CHECK_U64(d.prefixes & VMM__X86_P_EVEX, VMM__X86_P_EVEX);
  CHECK_U64(d.vex_l, 2);
  CHECK_U64(d.len, 6);
}

static void test_fields_16_32(void) {
  struct vmm__x86_insn d;
  /* 16-bit: mov 0x1234(%bx,%di), %ax */
  CHECK_RC(DECODE(16, "\x8b\x81\x34\x12", &d), 0);
  CHECK_U64((uint64_t)d.base, 3);
  CHECK_U64((uint64_t)d.index, 7);
  CHECK_U64(d.disp_size, 2);
  CHECK_U64(d.opsize, 2);
  CHECK_U64(d.addrsize, 2);
  /* 16-bit: mov 0x10(%bp), %ax (rm 110 with mod 01 is BP) */
  CHECK_RC(DECODE(16, "\x8b\x46\x10", &d), 0);
  CHECK_U64((uint64_t)d.base, 5);
  CHECK_U64((uint64_t)d.index, (uint64_t)VMM__X86_REG_NONE);
  /* 16-bit with 66 67: 32-bit operand and address */
  CHECK_RC(DECODE(16, "\x66\x67\x8b\x00", &d), 0);
  CHECK_U64(d.opsize, 4);
  CHECK_U64(d.addrsize, 4);
  CHECK_U64((uint64_t)d.base, 0);
  /* 32-bit: no RIP-relative form: mod 00 rm 101 is an absolute disp32 */
  CHECK_RC(DECODE(32, "\x8b\x05\x78\x56\x34\x12", &d), 0);
  CHECK_U64((uint64_t)d.base, (uint64_t)VMM__X86_REG_NONE);
  CHECK_U64((uint64_t)d.disp, 0x12345678);
  /* 32-bit: C4 with a memory ModRM is LES, not VEX */
  CHECK_RC(DECODE(32, "\xc4\x00", &d), 0);
  CHECK_U64(d.prefixes & VMM__X86_P_VEX, 0);
  CHECK_U64(d.len, 2);
  /* far jump: ptr16:32 */
  CHECK_RC(DECODE(32, "\xea\x00\x10\x00\x00\x10\x00", &d), 0);
  CHECK_U64(d.imm, 0x1000);
  CHECK_U64(d.imm2, 0x10);
}

static void test_invalid(void) {
  struct vmm__x86_insn d;
  /* Opcodes removed in 64-bit mode. */
  static const char *const gone[] = {"\x06", "\x07", "\x0e", "\x16", "\x17",
                                     "\x1e", "\x1f", "\x27", "\x2f", "\x37",
                                     "\x3f", "\x60", "\x61", "\xce", "\xd6",
                                     "\xd4\x0a", "\xd5\x0a"};
  for (size_t i = 0; i < UNIT_COUNT(gone); i++)
    CHECK_RC(decode_exact(gone[i], strlen(gone[i]), 64, &d),
             VMM__X86_DECODE_INVALID);
  CHECK_RC(DECODE(64, "\x9a\x00\x00\x00\x00\x00\x00", &d),
           VMM__X86_DECODE_INVALID);
  /* The same bytes are fine in 32-bit code. */
  CHECK_RC(DECODE(32, "\x06", &d), 0);
  /* Undefined two-byte opcodes. */
  CHECK_RC(DECODE(64, "\x0f\x04", &d), VMM__X86_DECODE_INVALID);
  CHECK_RC(DECODE(64, "\x0f\x3b", &d), VMM__X86_DECODE_INVALID);
  /* VEX after 66 or REX is #UD. */
  CHECK_RC(DECODE(64, "\x66\xc5\xed\xfe\xd9", &d), VMM__X86_DECODE_INVALID);
  CHECK_RC(DECODE(64, "\x40\xc5\xed\xfe\xd9", &d), VMM__X86_DECODE_INVALID);
  /* A VEX map number that does not exist. */
  CHECK_RC(DECODE(64, "\xc4\xe7\x7d\x00\xc0", &d), VMM__X86_DECODE_INVALID);
  /* 15 prefixes and an opcode: 16 bytes, over the limit (#GP). */
  CHECK_RC(DECODE(64, "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
                      "\x66\x66\x66\x90", &d),
           VMM__X86_DECODE_TOO_LONG);
  /* 14 prefixes and NOP: exactly 15, allowed. */
  CHECK_RC(DECODE(64, "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66"
                      "\x66\x66\x90", &d), 0);
  CHECK_U64(d.len, 15);
  /* An immediate that would end past byte 15. */
  CHECK_RC(DECODE(64, "\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x66\x48"
                      "\xb8\x00\x00\x00\x00\x00\x00\x00\x00", &d),
           VMM__X86_DECODE_TOO_LONG);
  /* Bad modes and empty input. */
  CHECK_RC(DECODE(8, "\x90", &d), VMM__X86_DECODE_INVALID);
  CHECK_RC(vmm__x86_decode(NULL, 0, 64, &d), VMM__X86_DECODE_TRUNCATED);
  CHECK_RC(DECODE(64, "\x66", &d), VMM__X86_DECODE_TRUNCATED);
}

static void test_code_mode(void) {
  CHECK_U64(vmm__x86_code_mode(false, false, false, false, false), 16);
  CHECK_U64(vmm__x86_code_mode(true, false, false, true, false), 32);
  CHECK_U64(vmm__x86_code_mode(true, false, false, false, false), 16);
  CHECK_U64(vmm__x86_code_mode(true, true, true, false, false), 64);
  CHECK_U64(vmm__x86_code_mode(true, true, false, true, false), 32);
  CHECK_U64(vmm__x86_code_mode(true, false, false, true, true), 16);
}

/* Random bytes (and random bytes after random prefixes): every result is
 * consistent and nothing is read past the buffer. Deterministic seed. */
static void test_fuzz(void) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  unsigned bad = 0, ok = 0;
  static const uint8_t hot[] = {0x0f, 0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x48,
                                0x41, 0xc4, 0xc5, 0x62, 0x38, 0x3a, 0x26};
  for (unsigned iter = 0; iter < 200000; iter++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t size = 1 + (x >> 59) % 16; /* 1..16 */
    uint8_t *buf = malloc(size);
    if (!buf)
      break;
    uint64_t y = x;
    for (size_t i = 0; i < size; i++) {
      y = y * 6364136223846793005ull + 1442695040888963407ull;
      uint8_t b = (uint8_t)(y >> 56);
      buf[i] = (y >> 40) % 4 == 0 ? hot[b % sizeof(hot)] : b;
    }
    unsigned mode = iter % 3 == 0 ? 16 : iter % 3 == 1 ? 32 : 64;
    struct vmm__x86_insn d;
    int rc = vmm__x86_decode(buf, size, mode, &d);
    if (rc == 0) {
      ok++;
      if (d.len == 0 || d.len > size || d.len > VMM__X86_MAX_LEN)
        bad++;
      /* The same instruction decodes the same from exactly its bytes. */
      struct vmm__x86_insn e;
      if (vmm__x86_decode(buf, d.len, mode, &e) != 0 || e.len != d.len ||
          e.opcode != d.opcode || e.map != d.map)
        bad++;
    } else if (rc != VMM__X86_DECODE_TRUNCATED &&
               rc != VMM__X86_DECODE_INVALID &&
               rc != VMM__X86_DECODE_TOO_LONG) {
      bad++;
    } else if (d.len > size && rc != VMM__X86_DECODE_TOO_LONG) {
      bad++;
    }
    free(buf);
  }
  CHECK_U64(bad, 0);
  CU_ASSERT(ok > 1000);
}

int main(void) {
  static const struct unit_test tests[] = {
      UNIT_TEST(test_known_lengths), UNIT_TEST(test_fields_64),
      UNIT_TEST(test_fields_16_32), UNIT_TEST(test_invalid),
      UNIT_TEST(test_code_mode), UNIT_TEST(test_fuzz),
  };
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  if (!unit_add_suite("decode", NULL, NULL, tests, UNIT_COUNT(tests))) {
    CU_cleanup_registry();
    return 99;
  }
  return unit_run();
}
