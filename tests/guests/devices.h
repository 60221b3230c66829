/* tests/guests/devices.h — what the devices guest and
 * tests/integration/devices_test.c agree on: modes, parameters, ports. */
#ifndef GUESTS_DEVICES_H
#define GUESTS_DEVICES_H

/* Parameter 0: what the guest does. */
#define DEV_MODE_UART_OUTPUT 1 /* checks registers, prints DEV_MESSAGE */
#define DEV_MODE_UART_ECHO 2   /* SYNC(0), then reads param 4 bytes
                                  (polled) and echoes them, SYNC(1, sum) */
#define DEV_MODE_UART_IRQ 3    /* receives param 4 bytes by interrupt */
#define DEV_MODE_DEBUG_EXIT 4  /* only the exit below */
#define DEV_MODE_I8042 5       /* status reads, then the reset command */
#define DEV_MODE_RTC 6         /* reports the time in every format */
#define DEV_MODE_GARBAGE 7     /* odd sizes and random values everywhere */

/* Parameters 1-3: how the guest ends. With an exit port, a write of
 * `value` of `size` bytes (1, 2 or 4) to it; without, a DONE ucall. */
#define DEV_PARAM_MODE 0
#define DEV_PARAM_EXIT_PORT 1
#define DEV_PARAM_EXIT_VALUE 2
#define DEV_PARAM_EXIT_SIZE 3
#define DEV_PARAM_COUNT 4 /* bytes to receive (echo, irq), rounds (garbage) */

#define DEV_UART_PORT 0x3f8
#define DEV_UART_IRQ 4
#define DEV_PIC_BASE 0x20   /* vectors of the remapped master PIC */
#define DEV_MESSAGE "Hello from the UART\r\n"

/* RTC mode: the SYNCs carry (phase, packed time, B, A, D). Fields of the
 * packed time, 8 bits each as the registers read: sec, min, hour, day,
 * month, year, century from bit 0 up. */
#define DEV_RTC_PHASE_BCD24 1
#define DEV_RTC_PHASE_BIN24 2
#define DEV_RTC_PHASE_BIN12 3
#define DEV_RTC_PHASE_BCD12 4
#define DEV_RTC_PHASE_SET 5 /* after the guest set 2030-06-15 12:34:56 */

#endif
