/* tests/unit/test_config.c — the JSON VM description parser: good
 * descriptions and their defaults, and many bad ones, each rejected with
 * the exact JSON path and reason; emit → parse round trips. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"
#include "unit.h"

static char tmpdir[256];

static void write_file(const char *name, size_t len) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  char buf[512];
  memset(buf, 0x90, sizeof(buf));
  for (size_t done = 0; done < len; done += sizeof(buf))
    if (write(fd, buf, len - done < sizeof(buf) ? len - done : sizeof(buf)) <
        0)
      break;
  close(fd);
}

static int suite_init(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof(tmpdir), "%s/libvmm-config-XXXXXX",
           base && *base ? base : "/tmp");
  if (!mkdtemp(tmpdir))
    return -1;
  write_file("img", 4096);
  write_file("disk.img", 1 << 20);
  write_file("odd.img", 1000);
  char p[512];
  snprintf(p, sizeof(p), "%s/dir", tmpdir);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/taken.sock", tmpdir);
  write_file("taken.sock", 1);
  return 0;
}

static int suite_cleanup(void) {
  char cmd[512];
  if (strstr(tmpdir, "/libvmm-config-")) {
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
  }
  return 0;
}

/* The JSON text with every "@D" replaced by the test directory. */
static char *expand(const char *json) {
  size_t n = strlen(json) + 1, dl = strlen(tmpdir);
  for (const char *p = json; (p = strstr(p, "@D")); p += 2)
    n += dl;
  char *out = malloc(n), *o = out;
  for (const char *p = json; *p;) {
    if (p[0] == '@' && p[1] == 'D') {
      memcpy(o, tmpdir, dl);
      o += dl;
      p += 2;
    } else {
      *o++ = *p++;
    }
  }
  *o = 0;
  return out;
}

static int parse(const char *json, vmm_config_t **cfg) {
  char *text = expand(json);
  int rc = vmm_config_parse(text, strlen(text), cfg);
  free(text);
  return rc;
}

/* ---- good descriptions ------------------------------------------------ */

static void test_minimal_defaults(void) {
  vmm_config_t *cfg;
  CHECK_RC(parse("{\"memory\": \"16M\"}", &cfg), 0);
  if (!cfg)
    return;
  CHECK_U64(cfg->n_regions, 1);
  CHECK_U64(cfg->regions[0].gpa, 0);
  CHECK_U64(cfg->regions[0].size, 16u << 20);
  CHECK_U64(cfg->vcpus, 1);
  CHECK_U64(cfg->irqchip, true);
  CHECK_U64(cfg->payload.kind, VMM__PAYLOAD_NONE);
  CHECK_U64(cfg->assist, VMM_ASSIST_DEFAULT);
  CHECK_U64(cfg->n_devices, 0);
  CU_ASSERT_PTR_NULL(vmm_config_control_path(cfg));
  CHECK_U64(vmm_config_sandbox(cfg), -1); /* not said */
  vmm_config_free(cfg);
  /* "sandbox": the three modes as vmm_vm_set_sandbox() flags. */
  static const char *const modes[] = {"off", "on", "kill"};
  static const int flags[] = {0, VMM_SANDBOX_ON,
                              VMM_SANDBOX_ON | VMM_SANDBOX_KILL};
  for (int i = 0; i < 3; i++) {
    char json[64];
    snprintf(json, sizeof(json), "{\"memory\": \"1M\", \"sandbox\": \"%s\"}",
             modes[i]);
    CHECK_RC(parse(json, &cfg), 0);
    CHECK_U64(vmm_config_sandbox(cfg), flags[i]);
    vmm_config_free(cfg);
  }
}

static void test_memory_shorthand_splits(void) {
  vmm_config_t *cfg;
  CHECK_RC(parse("{\"memory\": \"5G\"}", &cfg), 0);
  if (!cfg)
    return;
  CHECK_U64(cfg->n_regions, 2);
  CHECK_U64(cfg->regions[0].size, 3ull << 30);
  CHECK_U64(cfg->regions[1].gpa, 4ull << 30);
  CHECK_U64(cfg->regions[1].size, 2ull << 30);
  vmm_config_free(cfg);
}

static void test_full_description(void) {
  static const char json[] =
      "{\"comment\": \"everything\", \"backend\": \"kvm\", \"irqchip\": true,"
      " \"hypercall_port\": \"0xed\","
      " \"memory\": [{\"gpa\": 0, \"size\": \"64MiB\"},"
      "   {\"gpa\": \"0x100000000\", \"size\": 1048576, \"dirty_log\": true}],"
      " \"vcpus\": {\"count\": 2, \"template\": \"baseline\","
      "   \"features\": [\"-sse2\", \"+sse2\"],"
      "   \"assist\": [\"hidden_ud\", \"int3\"]},"
      " \"payload\": {\"type\": \"kernel\", \"path\": \"@D/img\","
      "   \"format\": \"bzimage\", \"initrd\": \"@D/disk.img\","
      "   \"cmdline\": \"console=ttyS0\", \"acpi\": false},"
      " \"devices\": ["
      "  {\"type\": \"uart\", \"id\": \"com1\", \"chardev\": \"stdio\"},"
      "  {\"type\": \"uart\", \"port\": \"0x2f8\", \"irq\": 3,"
      "   \"chardev\": {\"type\": \"buffer\", \"capacity\": \"4K\"}},"
      "  {\"type\": \"debug-exit\"}, {\"type\": \"i8042\"}, {\"type\": \"rtc\"},"
      "  {\"type\": \"fw-cfg\", \"files\": [{\"name\": \"opt/a\", \"path\":"
      "   \"@D/img\"}, {\"name\": \"opt/b\", \"path\": \"@D/disk.img\"}]},"
      "  {\"type\": \"boot-timer\"},"
      "  {\"type\": \"virtio-rng\", \"transport\": \"pci\", \"pci_slot\": 3},"
      "  {\"type\": \"virtio-console\", \"chardev\": {\"type\": \"file\","
      "   \"path\": \"@D/console.log\"}, \"queue_size\": 64},"
      "  {\"type\": \"virtio-blk\", \"path\": \"@D/disk.img\","
      "   \"readonly\": true, \"serial\": \"disk0\", \"num_queues\": 2},"
      "  {\"type\": \"virtio-net\", \"backend\": \"tap\", \"name\": \"tap7\","
      "   \"mac\": \"52:54:00:12:34:56\"}],"
      " \"control\": {\"path\": \"@D/control.sock\"}}";
  vmm_config_t *cfg;
  CHECK_RC(parse(json, &cfg), 0);
  if (!cfg)
    return;
  CHECK_U64(cfg->hypercall_port, 0xed);
  CHECK_U64(cfg->regions[1].gpa, 1ull << 32);
  CHECK_U64(cfg->regions[1].dirty_log, true);
  CHECK_U64(cfg->vcpus, 2);
  CHECK_U64(cfg->n_features, 2);
  CHECK_U64(cfg->assist, VMM_ASSIST_HIDDEN_UD | VMM_ASSIST_INT3);
  CHECK_U64(cfg->payload.format, VMM_KERNEL_BZIMAGE);
  CHECK_U64(cfg->payload.acpi, false);
  CHECK_U64(cfg->payload.mptable, true);
  CHECK_U64(cfg->n_devices, 11);
  CU_ASSERT_STRING_EQUAL(cfg->devices[0].id, "com1");
  CU_ASSERT_STRING_EQUAL(cfg->devices[1].id, "uart0");
  CHECK_U64(cfg->devices[1].port, 0x2f8);
  CHECK_U64(cfg->devices[1].chr.capacity, 4096);
  CU_ASSERT_STRING_EQUAL(cfg->devices[2].id, "debug-exit0");
  CHECK_U64(cfg->devices[5].n_files, 2);
  CU_ASSERT_STRING_EQUAL(cfg->devices[5].file_names[1], "opt/b");
  CHECK_U64(cfg->devices[7].transport, VMM_VIRTIO_PCI);
  CHECK_U64(cfg->devices[7].pci_slot, 3);
  CHECK_U64(cfg->devices[8].queue_size, 64);
  CHECK_U64(cfg->devices[9].readonly, true);
  CHECK_U64(cfg->devices[9].num_queues, 2);
  CHECK_U64(cfg->devices[10].mac[5], 0x56);
  CU_ASSERT_STRING_EQUAL(vmm_config_stdio_device(cfg), "com1");
  CHECK_CONTAINS(vmm_config_control_path(cfg), "/control.sock");
  CHECK_U64(vmm_config_vcpus(cfg), 2);

  /* emit → parse gives the same JSON again. */
  char *a = NULL, *b = NULL;
  CHECK_RC(vmm__config_to_json(cfg, &a), 0);
  vmm_config_t *again = NULL;
  if (a)
    CHECK_RC(vmm_config_parse(a, strlen(a), &again), 0);
  if (again)
    CHECK_RC(vmm__config_to_json(again, &b), 0);
  if (a && b)
    CU_ASSERT_STRING_EQUAL(a, b);
  free(a);
  free(b);
  vmm_config_free(again);
  vmm_config_free(cfg);
}

static void test_relative_paths_from_file(void) {
  char p[512];
  snprintf(p, sizeof(p), "%s/vm.json", tmpdir);
  FILE *f = fopen(p, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-blk\", "
        "\"path\": \"disk.img\"}]}", f);
  fclose(f);
  vmm_config_t *cfg;
  CHECK_RC(vmm_config_parse_file(p, &cfg), 0);
  if (cfg) {
    char want[512];
    snprintf(want, sizeof(want), "%s/disk.img", tmpdir);
    CU_ASSERT_STRING_EQUAL(cfg->devices[0].path, want);
  }
  vmm_config_free(cfg);
  /* A missing relative file names the field, prefixed with the file. */
  f = fopen(p, "w");
  fputs("{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-blk\", "
        "\"path\": \"nope.img\"}]}", f);
  fclose(f);
  CHECK_RC(vmm_config_parse_file(p, &cfg), VMM_ENOENT);
  CHECK_MSG("vm.json: devices[0].path: no such file");
  CU_ASSERT_PTR_NULL(cfg);
  snprintf(p, sizeof(p), "%s/absent.json", tmpdir);
  CHECK_RC(vmm_config_parse_file(p, &cfg), VMM_ENOENT);
  CHECK_RC(vmm_config_parse_file(NULL, &cfg), VMM_EINVAL);
  CHECK_RC(vmm_config_parse("{}", 2, NULL), VMM_EINVAL);
  CHECK_RC(vmm_config_parse(NULL, 0, &cfg), VMM_EINVAL);
  vmm_config_free(NULL);
}

/* ---- bad descriptions --------------------------------------------------- */

struct bad {
  const char *json;
  int rc;
  const char *prefix; /* vmm_last_error() starts with it */
};

static const struct bad bad_cases[] = {
    /* syntax */
    {"", VMM_EINVAL, "line 1, column 1: invalid JSON"},
    {"{\"memory\": \"1M\",\n  \"vcpus\": 1,\n  oops}", VMM_EINVAL,
     "line 3, column "},
    {"{\"memory\": \"1M\"} trailing", VMM_EINVAL,
     "line 1, column 18: invalid JSON near \"trailing\""},
    {"{\"memory\": [", VMM_EINVAL, "line 1, column 1"},
    {"[1, 2]", VMM_EINVAL, "(top level): expected an object, got an array"},
    {"42", VMM_EINVAL, "(top level): expected an object"},
    /* top level */
    {"{}", VMM_EINVAL, "memory: missing"},
    {"{\"memory\": \"1M\", \"memroy\": 1}", VMM_EINVAL,
     "memroy: unknown field (expected one of: comment, backend"},
    {"{\"memory\": \"1M\", \"memory\": \"2M\"}", VMM_EINVAL,
     "memory: duplicate field"},
    {"{\"memory\": \"1M\", \"we ird\": 1}", VMM_EINVAL,
     "[\"we ird\"]: unknown field"},
    {"{\"memory\": \"1M\", \"backend\": \"hyperv\"}", VMM_ENODEV,
     "backend: \"hyperv\" is not compiled into this libvmm"},
    {"{\"memory\": \"1M\", \"backend\": 7}", VMM_EINVAL,
     "backend: expected a string, got a number"},
    {"{\"memory\": \"1M\", \"irqchip\": \"yes\"}", VMM_EINVAL,
     "irqchip: expected true or false, got a string"},
    {"{\"memory\": \"1M\", \"hypercall_port\": 70000}", VMM_ERANGE,
     "hypercall_port: 0x11170 (70000) is out of range [0x1, 0xffff]"},
    {"{\"memory\": \"1M\", \"hypercall_port\": 1.5}", VMM_EINVAL,
     "hypercall_port: not an integer"},
    {"{\"memory\": \"1M\", \"hypercall_port\": -3}", VMM_ERANGE,
     "hypercall_port: negative number"},
    /* memory */
    {"{\"memory\": true}", VMM_EINVAL,
     "memory: expected an array of regions or a size, got a boolean"},
    {"{\"memory\": []}", VMM_EINVAL, "memory: no memory regions"},
    {"{\"memory\": \"1X\"}", VMM_EINVAL, "memory: \"1X\": unknown size suffix"},
    {"{\"memory\": \"abc\"}", VMM_EINVAL, "memory: \"abc\": not a number"},
    {"{\"memory\": \"\"}", VMM_EINVAL, "memory: \"\": empty string"},
    {"{\"memory\": \"99999999999999999999\"}", VMM_ERANGE,
     "memory: \"99999999999999999999\": number too large"},
    {"{\"memory\": \"100000000T\"}", VMM_ERANGE, "memory: \"100000000T\": "
     "number too large"},
    {"{\"memory\": 1000}", VMM_ERANGE, "memory: 0x3e8 (1000) is out of range"},
    {"{\"memory\": 4097000}", VMM_EINVAL, "memory: 0x3e83e8 is not a multiple "
     "of 4 KiB"},
    {"{\"memory\": \"2T\"}", VMM_ERANGE, "memory: 0x20000000000"},
    {"{\"memory\": [{\"gpa\": 0}]}", VMM_EINVAL, "memory[0].size: missing"},
    {"{\"memory\": [{\"size\": \"1M\", \"gpa\": \"0x1001\"}]}", VMM_EINVAL,
     "memory[0].gpa: 0x1001 is not a multiple of 4 KiB"},
    {"{\"memory\": [{\"size\": \"1M\"}, {\"size\": \"1M\", \"gpa\": "
     "\"0x80000\"}]}", VMM_EOVERLAP,
     "memory[1]: [0x80000, 0x180000) overlaps memory[0] [0x0, 0x100000)"},
    {"{\"memory\": [{\"size\": \"1M\", \"readonly\": 1}]}", VMM_EINVAL,
     "memory[0].readonly: expected true or false, got a number"},
    {"{\"memory\": [{\"size\": \"1M\", \"rw\": true}]}", VMM_EINVAL,
     "memory[0].rw: unknown field"},
    {"{\"memory\": [{\"size\": \"1G\", \"gpa\": \"0xffffffff0000\"}]}",
     VMM_ERANGE, "memory[0].size: the region [0xffffffff0000, 0x100003fff0000) ends above"},
    {"{\"memory\": [\"1M\"]}", VMM_EINVAL,
     "memory[0]: expected an object, got a string"},
    /* vcpus */
    {"{\"memory\": \"1M\", \"vcpus\": 0}", VMM_ERANGE,
     "vcpus: 0x0 (0) is out of range [0x1, 0x100]"},
    {"{\"memory\": \"1M\", \"vcpus\": 257}", VMM_ERANGE, "vcpus: 0x101"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"cnt\": 2}}", VMM_EINVAL,
     "vcpus.cnt: unknown field"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"template\": \"fast\"}}", VMM_EINVAL,
     "vcpus.template: unknown template \"fast\""},
    {"{\"memory\": \"1M\", \"vcpus\": {\"template\": \"host,-xsave\"}}",
     VMM_EINVAL, "vcpus.template: a template name only"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"features\": \"-xsave\"}}",
     VMM_EINVAL, "vcpus.features: expected an array"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"features\": [\"-xsave\", "
     "\"avx\"]}}", VMM_EINVAL,
     "vcpus.features[1]: \"avx\" is not \"+name\" or \"-name\""},
    {"{\"memory\": \"1M\", \"vcpus\": {\"features\": [\"+warp\"]}}",
     VMM_EINVAL, "vcpus.features[0]: unknown CPU feature \"warp\""},
    {"{\"memory\": \"1M\", \"vcpus\": {\"features\": [\"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\","
     " \"-xsave\", \"-xsave\", \"-xsave\", \"-xsave\"]}}", VMM_ERANGE,
     "vcpus.features[35]: the template and its edits are longer than 255"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"assist\": \"int3\"}}", VMM_EINVAL,
     "vcpus.assist: expected an array of names, got a string"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"assist\": [\"ud\", \"warp\"]}}",
     VMM_EINVAL, "vcpus.assist[1]: \"warp\" is not one of \"int3\""},
    {"{\"memory\": \"1M\", \"vcpus\": {\"assist\": [true]}}", VMM_EINVAL,
     "vcpus.assist[0]: expected a string, got a boolean"},
    {"{\"memory\": \"1M\", \"vcpus\": {\"features\": [3]}}", VMM_EINVAL,
     "vcpus.features[0]: expected a string, got a number"},
    /* payload */
    {"{\"memory\": \"1M\", \"payload\": []}", VMM_EINVAL,
     "payload: expected an object, got an array"},
    {"{\"memory\": \"1M\", \"payload\": {\"path\": \"@D/img\"}}", VMM_EINVAL,
     "payload.type: missing"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"coff\"}}", VMM_EINVAL,
     "payload.type: \"coff\" is not one of \"flat\", \"elf\""},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/missing.elf\"}}", VMM_ENOENT, "payload.path: no such file"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/dir\"}}", VMM_EINVAL, "payload.path: a directory, not a regular"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\"}}", VMM_EINVAL,
     "payload.path: missing"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/img\", \"cmdline\": \"x\"}}", VMM_EINVAL,
     "payload.cmdline: unknown field"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"flat\", \"path\": "
     "\"@D/img\"}}", VMM_EINVAL, "payload.gpa: missing"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"flat\", \"path\": "
     "\"@D/img\", \"gpa\": \"0xffe00\", \"mode\": \"long\"}}", VMM_EFAULT,
     "payload.gpa: the image (4096 bytes) at 0xffe00 does not fit"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"flat\", \"path\": "
     "\"@D/img\", \"gpa\": \"0x7c00\", \"mode\": \"auto\"}}", VMM_EINVAL,
     "payload.mode: a flat image needs"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"flat\", \"path\": "
     "\"@D/img\", \"gpa\": \"0x20000\"}}", VMM_ERANGE,
     "payload.entry: 0x20000 is not reachable from cs 0x0"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"flat\", \"path\": "
     "\"@D/img\", \"gpa\": \"0x7c00\", \"stack\": \"0x10000\"}}", VMM_ERANGE,
     "payload.stack: 0x10000 does not fit the 16-bit SP"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/img\", \"mode\": \"long\", \"setup_gpa\": \"0xff000\"}}",
     VMM_EFAULT, "payload.setup_gpa: the 40960 bytes of long-mode tables"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/img\", \"mode\": \"protected\", \"setup_gpa\": \"0x1000\"}}",
     VMM_EINVAL, "payload.setup_gpa: only for long mode"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"elf\", \"path\": "
     "\"@D/img\", \"mode\": \"warp\"}}", VMM_EINVAL,
     "payload.mode: \"warp\" is not one of"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"pvh\", \"path\": "
     "\"@D/img\", \"format\": \"elf\"}}", VMM_EINVAL,
     "payload.format: only with \"type\": \"kernel\""},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"kernel\", \"path\": "
     "\"@D/img\", \"initrd\": \"@D/none\"}}", VMM_ENOENT,
     "payload.initrd: no such file"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"kernel\", \"path\": "
     "\"@D/img\", \"cmdline\": 5}}", VMM_EINVAL,
     "payload.cmdline: expected a string, got a number"},
    {"{\"memory\": \"1M\", \"payload\": {\"type\": \"kernel\", \"path\": "
     "\"@D/img\", \"acpi\": null, \"mptable\": \"no\"}}", VMM_EINVAL,
     "payload.mptable: expected true or false"},
    /* devices */
    {"{\"memory\": \"1M\", \"devices\": {}}", VMM_EINVAL,
     "devices: expected an array of devices, got an object"},
    {"{\"memory\": \"1M\", \"devices\": [7]}", VMM_EINVAL,
     "devices[0]: expected an object, got a number"},
    {"{\"memory\": \"1M\", \"devices\": [{}]}", VMM_EINVAL,
     "devices[0].type: missing"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"floppy\"}]}",
     VMM_EINVAL, "devices[0].type: \"floppy\" is not one of \"uart\""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"rtc\", \"port\": "
     "112}]}", VMM_EINVAL, "devices[0].port: unknown field (expected one of: "
     "type, id)"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\"}, {\"type\": "
     "\"rtc\"}, {\"type\": \"virtio-blk\", \"path\": \"@D/nope\"}]}",
     VMM_ENOENT, "devices[2].path: no such file"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-blk\"}]}",
     VMM_EINVAL, "devices[0].path: missing"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"id\": "
     "\"a\"}, {\"type\": \"rtc\", \"id\": \"a\"}]}", VMM_EEXIST,
     "devices[1].id: duplicate id \"a\" (devices[0] has it)"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"id\": "
     "\"a b\"}]}", VMM_EINVAL, "devices[0].id: \"a b\" is not 1..63"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"id\": "
     "\"\"}]}", VMM_EINVAL, "devices[0].id: \"\" is not"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"id\": "
     "1}]}", VMM_EINVAL, "devices[0].id: expected a string"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"port\": "
     "\"0xfffc\"}]}", VMM_ERANGE, "devices[0].port: 0xfffc"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"irq\": "
     "24}]}", VMM_ERANGE, "devices[0].irq: 0x18 (24) is out of range"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\"}, {\"type\": "
     "\"uart\", \"port\": \"0x3fc\"}]}", VMM_EOVERLAP,
     "devices[1].port: ports [0x3fc, 0x404) overlap devices[0] (uart)"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"i8042\"}, {\"type\": "
     "\"i8042\"}]}", VMM_EOVERLAP,
     "devices[1]: ports [0x60, 0x61) overlap devices[0] (i8042)"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"debug-exit\", "
     "\"port\": \"0xec\"}]}", VMM_EOVERLAP,
     "devices[0].port: ports [0xec, 0xed) overlap the hypercall port 0xec"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "\"tty\"}]}", VMM_EINVAL, "devices[0].chardev: \"tty\": as a string "
     "only"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "{\"type\": \"file\"}}]}", VMM_EINVAL, "devices[0].chardev.path: "
     "missing"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "{\"type\": \"file\", \"path\": \"@D/no/such/dir/log\"}}]}", VMM_ENOENT,
     "devices[0].chardev.path: no such directory for the file"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "{\"type\": \"stdio\", \"path\": \"x\"}}]}", VMM_EINVAL,
     "devices[0].chardev.path: only for \"file\" and \"socket\""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "{\"type\": \"buffer\", \"capacity\": \"2G\"}}]}", VMM_ERANGE,
     "devices[0].chardev.capacity: 0x80000000"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "{\"type\": \"socket\", \"path\": \"@D/taken.sock\"}}]}", VMM_EEXIST,
     "devices[0].chardev.path: \""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"uart\", \"chardev\": "
     "\"stdio\"}, {\"type\": \"virtio-console\", \"chardev\": \"stdio\"}]}",
     VMM_EBUSY, "devices[1].chardev: stdio serves devices[0] already"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"transport\": \"isa\"}]}", VMM_EINVAL,
     "devices[0].transport: \"isa\" is not one of \"mmio\", \"pci\""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"pci_slot\": 2}]}", VMM_EINVAL,
     "devices[0].pci_slot: only for the \"pci\" transport"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"transport\": \"pci\", \"pci_slot\": 32}]}", VMM_ERANGE,
     "devices[0].pci_slot: 0x20 (32) is out of range [0x1, 0x1f]"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"transport\": \"pci\", \"irq\": 5}]}", VMM_EINVAL,
     "devices[0].irq: only for the \"mmio\" transport"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"queue_size\": 100}]}", VMM_EINVAL,
     "devices[0].queue_size: 100 is not a power of two"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"mmio_base\": \"0x80000\"}]}", VMM_EOVERLAP,
     "devices[0].mmio_base: 0x80000 is inside memory[0]"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"mmio_base\": \"0xd0000000\"}, {\"type\": \"virtio-rng\", "
     "\"mmio_base\": \"0xd0000000\"}]}", VMM_EOVERLAP,
     "devices[1].mmio_base: 0xd0000000 is devices[0]'s already"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-rng\", "
     "\"transport\": \"pci\", \"pci_slot\": 4}, {\"type\": \"virtio-rng\", "
     "\"transport\": \"pci\", \"pci_slot\": 4}]}", VMM_EOVERLAP,
     "devices[1].pci_slot: slot 4 is devices[0]'s already"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-blk\", \"path\": "
     "\"@D/disk.img\", \"num_queues\": 9}]}", VMM_ERANGE,
     "devices[0].num_queues: 0x9 (9) is out of range [0x1, 0x8]"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-blk\", \"path\": "
     "\"@D/disk.img\", \"serial\": \"123456789012345678901\"}]}", VMM_ERANGE,
     "devices[0].serial: 21 bytes long; at most 20"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\"}]}",
     VMM_EINVAL, "devices[0].backend: missing"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"tap\", \"path\": \"/x\"}]}", VMM_EINVAL,
     "devices[0].path: a tap back-end takes \"name\""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"tap\", \"name\": \"a-very-long-name0\"}]}", VMM_ERANGE,
     "devices[0].name: 17 bytes long; at most 15"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"tap\", \"name\": \"t0\", \"mac\": \"01:00:00:00:00:01\"}]}",
     VMM_EINVAL, "devices[0].mac: 01:00:00:00:00:01 is a multicast address"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"tap\", \"name\": \"t0\", \"mac\": \"52:54:00:12:34\"}]}",
     VMM_EINVAL, "devices[0].mac: \"52:54:00:12:34\" is not xx:xx"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"socket\", \"name\": \"x\"}]}", VMM_EINVAL,
     "devices[0].name: a socket back-end takes \"path\""},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"socket\", \"path\": \"@D/absent.sock\"}]}", VMM_ENOENT,
     "devices[0].path: no such socket"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"virtio-net\", "
     "\"backend\": \"socket\", \"path\": \"@D/img\"}]}", VMM_EINVAL,
     "devices[0].path: not a unix socket"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "{}}]}", VMM_EINVAL, "devices[0].files: expected an array"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "[{\"name\": \"opt/a\"}]}]}", VMM_EINVAL,
     "devices[0].files[0].path: missing"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "[{\"path\": \"@D/img\", \"name\": \"opt/a\", \"data\": 1}]}]}", VMM_EINVAL,
     "devices[0].files[0].data: unknown field"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "[{\"name\": \"opt/a\", \"path\": \"@D/img\"}, {\"name\": \"opt/a\", "
     "\"path\": \"@D/img\"}]}]}", VMM_EEXIST,
     "devices[0].files[1].name: \"opt/a\" is files[0]'s name already"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "[{\"name\": \"opt/0123456789012345678901234567890123456789012345678901\","
     " \"path\": \"@D/img\"}]}]}", VMM_ERANGE,
     "devices[0].files[0].name: 56 bytes long; at most 55"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"files\": "
     "[{\"name\": \"opt/a\", \"path\": \"@D/gone\"}]}]}", VMM_ENOENT,
     "devices[0].files[0].path: no such file"},
    {"{\"memory\": \"1M\", \"devices\": [{\"type\": \"fw-cfg\", \"cmdline\": "
     "[]}]}", VMM_EINVAL, "devices[0].cmdline: expected a string, got an "
     "array"},
    /* control */
    {"{\"memory\": \"1M\", \"sandbox\": \"maybe\"}", VMM_EINVAL,
     "sandbox: \"maybe\" is not one of \"off\", \"on\", \"kill\""},
    {"{\"memory\": \"1M\", \"sandbox\": true}", VMM_EINVAL,
     "sandbox: expected a string"},
    {"{\"memory\": \"1M\", \"control\": \"/tmp/x\"}", VMM_EINVAL,
     "control: expected an object, got a string"},
    {"{\"memory\": \"1M\", \"control\": {}}", VMM_EINVAL,
     "control.path: missing"},
    {"{\"memory\": \"1M\", \"control\": {\"path\": \"@D/taken.sock\"}}",
     VMM_EEXIST, "control.path: \""},
    {"{\"memory\": \"1M\", \"control\": {\"path\": \"@D/nodir/c.sock\"}}",
     VMM_ENOENT, "control.path: no such directory for the file"},
    {"{\"memory\": \"1M\", \"control\": {\"path\": \"@D/c.sock\", \"mode\": "
     "600}}", VMM_EINVAL, "control.mode: unknown field"},
};

static void test_bad_inputs(void) {
  for (size_t i = 0; i < UNIT_COUNT(bad_cases); i++) {
    const struct bad *b = &bad_cases[i];
    vmm_config_t *cfg = (vmm_config_t *)1;
    int rc = parse(b->json, &cfg);
    char *want = expand(b->prefix);
    bool ok = rc == b->rc && cfg == NULL &&
              strncmp(vmm_last_error(), want, strlen(want)) == 0;
    if (!ok)
      fprintf(stderr, "\n  case %zu: %s\n    got %s \"%s\"\n    want %s "
              "\"%s...\"\n", i, b->json, vmm_err_name(rc), vmm_last_error(),
              vmm_err_name(b->rc), want);
    CU_ASSERT(ok);
    free(want);
    if (rc == 0)
      vmm_config_free(cfg);
  }
}

/* A path that would break the message ("a.b" in a key) is quoted. */
static void test_path_quoting(void) {
  vmm_config_t *cfg;
  CHECK_RC(parse("{\"memory\": [{\"size\": \"1M\", \"a.b\": 1}]}", &cfg),
           VMM_EINVAL);
  CHECK_MSG("memory[0][\"a.b\"]: unknown field");
}

int main(void) {
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 99;
  static const struct unit_test tests[] = {
      UNIT_TEST(test_minimal_defaults),
      UNIT_TEST(test_memory_shorthand_splits),
      UNIT_TEST(test_full_description),
      UNIT_TEST(test_relative_paths_from_file),
      UNIT_TEST(test_bad_inputs),
      UNIT_TEST(test_path_quoting),
  };
  CU_pSuite s = CU_add_suite("config", suite_init, suite_cleanup);
  if (!s)
    return 99;
  for (size_t i = 0; i < UNIT_COUNT(tests); i++)
    if (!CU_add_test(s, tests[i].name, tests[i].fn))
      return 99;
  return unit_run();
}
