/* src/hw/uart16550.h — the 16550A register model, apart from the bus, the
 * lock and the back-end (so unit tests can drive it directly). */
#ifndef VMM__HW_UART16550_H
#define VMM__HW_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Register offsets from the base port. */
enum {
  UART_RBR = 0, /* read, DLAB 0: receive buffer */
  UART_THR = 0, /* write, DLAB 0: transmit holding */
  UART_DLL = 0, /* DLAB 1: divisor latch, low byte */
  UART_IER = 1, /* DLAB 0 */
  UART_DLM = 1, /* DLAB 1: divisor latch, high byte */
  UART_IIR = 2, /* read */
  UART_FCR = 2, /* write */
  UART_LCR = 3,
  UART_MCR = 4,
  UART_LSR = 5,
  UART_MSR = 6,
  UART_SCR = 7,
  UART_NREGS = 8
};

/* IER */
#define UART_IER_RDI 0x01  /* received data available (and timeout) */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IER_RLSI 0x04 /* receiver line status */
#define UART_IER_MSI 0x08  /* modem status */
/* IIR */
#define UART_IIR_NO_INT 0x01
#define UART_IIR_MSI 0x00
#define UART_IIR_THRI 0x02
#define UART_IIR_RDI 0x04
#define UART_IIR_RLSI 0x06
#define UART_IIR_TIMEOUT 0x0c
#define UART_IIR_FIFO 0xc0 /* both FIFOs enabled */
/* FCR */
#define UART_FCR_ENABLE 0x01
#define UART_FCR_CLEAR_RX 0x02
#define UART_FCR_CLEAR_TX 0x04
/* LCR */
#define UART_LCR_DLAB 0x80
/* MCR */
#define UART_MCR_DTR 0x01
#define UART_MCR_RTS 0x02
#define UART_MCR_OUT1 0x04
#define UART_MCR_OUT2 0x08
#define UART_MCR_LOOP 0x10
/* LSR */
#define UART_LSR_DR 0x01
#define UART_LSR_OE 0x02
#define UART_LSR_PE 0x04
#define UART_LSR_FE 0x08
#define UART_LSR_BI 0x10
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_LSR_FIFOE 0x80
/* MSR */
#define UART_MSR_DCTS 0x01
#define UART_MSR_DDSR 0x02
#define UART_MSR_TERI 0x04
#define UART_MSR_DDCD 0x08
#define UART_MSR_CTS 0x10
#define UART_MSR_DSR 0x20
#define UART_MSR_RI 0x40
#define UART_MSR_DCD 0x80

#define UART_FIFO_SIZE 16

struct vmm__uart_regs {
  uint8_t ier, lcr, mcr, scr, dll, dlm;
  uint8_t lsr_errors; /* OE (the only error a virtual line has) */
  uint8_t msr;        /* lines in bits 4-7, deltas in bits 0-3 */
  bool fifo_enabled;
  uint8_t rx_trigger; /* 1, 4, 8 or 14 */
  uint8_t rx[UART_FIFO_SIZE];
  unsigned rx_head, rx_count;
  bool thre_pending; /* THR-empty interrupt latched, until IIR read or THR write */
  bool want_input;   /* the back-end holds input the FIFO had no room for */
};

/* What an access asks the device to do once the registers are updated. */
struct vmm__uart_effects {
  uint8_t out[8]; /* bytes transmitted on the line */
  unsigned n_out;
  bool input_ready; /* the receiver has room for held-back input */
};

/* Power-on state: FIFOs off, every interrupt disabled, THR empty, the
 * receiver empty, divisor 12 (9600 baud). */
void vmm__uart_reset(struct vmm__uart_regs *u);
uint8_t vmm__uart_read(struct vmm__uart_regs *u, unsigned offset,
                       struct vmm__uart_effects *fx);
void vmm__uart_write(struct vmm__uart_regs *u, unsigned offset, uint8_t value,
                     struct vmm__uart_effects *fx);
/* Bytes arriving on the line: takes what fits (none in loopback mode,
 * where the line is disconnected) and returns how many. */
size_t vmm__uart_receive(struct vmm__uart_regs *u, const uint8_t *data,
                         size_t len);
/* The IIR value now, without the side effect of a guest read. */
uint8_t vmm__uart_iir(const struct vmm__uart_regs *u);
/* The level of the interrupt output: an interrupt is pending. */
bool vmm__uart_irq(const struct vmm__uart_regs *u);

#endif
