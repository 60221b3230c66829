package vmm

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// Device is a device model attached to a VM (UART, debug-exit port,
// virtio devices...). It belongs to its VM and goes away with Close of
// the VM; its methods then fail with EBADF or return zero values.
type Device struct {
	vm *VM
	c  *C.vmm_device_t
}

// Chardev is a character back-end (a serial line's or console's other
// end): the process's stdio, a file, a unix socket, or an in-memory buffer
// the program reads and writes. It serves one device and belongs to its VM.
type Chardev struct {
	vm *VM
	c  *C.vmm_chardev_t
}

// Transport says how a virtio device attaches.
type Transport int

const (
	// MMIO is virtio-mmio (register layout version 2).
	MMIO Transport = C.VMM_VIRTIO_MMIO
	// PCI is modern virtio-pci behind the VM's PCI host bridge.
	PCI Transport = C.VMM_VIRTIO_PCI
)

// VirtioOptions places a virtio device; the zero value means MMIO at the
// next free slot and interrupt, with 256-entry queues.
type VirtioOptions struct {
	Transport Transport
	IRQ       uint32 // MMIO: the GSI; 0 picks the next free one
	MMIOBase  uint64 // MMIO: 0 picks the next free 4 KiB slot
	QueueSize uint16 // 0: 256; a power of two up to 32768
	PCISlot   uint32 // PCI: device number 1-31 on bus 0; 0 picks one
}

func (o *VirtioOptions) c() C.vmm_virtio_config_t {
	var cfg C.vmm_virtio_config_t
	cfg.size = C.size_t(unsafe.Sizeof(cfg))
	if o != nil {
		cfg.transport = C.uint32_t(o.Transport)
		cfg.irq = C.uint32_t(o.IRQ)
		cfg.mmio_base = C.uint64_t(o.MMIOBase)
		cfg.queue_size = C.uint16_t(o.QueueSize)
		cfg.pci_slot = C.uint32_t(o.PCISlot)
	}
	return cfg
}

// live runs f with the VM's C handle while the VM is open (read lock
// held, so Close waits for it).
func (vm *VM) live(op string, f func(c *C.vmm_vm_t) C.int) error {
	vm.mu.RLock()
	defer vm.mu.RUnlock()
	if vm.c == nil {
		return &Error{Op: op, Code: EBADF, Message: op + ": the VM is closed"}
	}
	return call(op, func() C.int { return f(vm.c) })
}

func (vm *VM) device(op string, f func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int) (*Device, error) {
	var d *C.vmm_device_t
	if err := vm.live(op, func(c *C.vmm_vm_t) C.int { return f(c, &d) }); err != nil {
		return nil, err
	}
	return &Device{vm: vm, c: d}, nil
}

func (vm *VM) chardev(op string, f func(c *C.vmm_vm_t, out **C.vmm_chardev_t) C.int) (*Chardev, error) {
	var d *C.vmm_chardev_t
	if err := vm.live(op, func(c *C.vmm_vm_t) C.int { return f(c, &d) }); err != nil {
		return nil, err
	}
	return &Chardev{vm: vm, c: d}, nil
}

// StdioChardev connects a device to the process's standard input and
// output.
func (vm *VM) StdioChardev() (*Chardev, error) {
	return vm.chardev("vmm_chardev_stdio", func(c *C.vmm_vm_t, out **C.vmm_chardev_t) C.int {
		return C.vmm_chardev_stdio(c, out)
	})
}

// FileChardev sends a device's output to the file at path (no input).
func (vm *VM) FileChardev(path string) (*Chardev, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	return vm.chardev("vmm_chardev_file", func(c *C.vmm_vm_t, out **C.vmm_chardev_t) C.int {
		return C.vmm_chardev_file(c, p, out)
	})
}

// SocketChardev listens on a unix socket at path; one client at a time is
// the other end of the line.
func (vm *VM) SocketChardev(path string) (*Chardev, error) {
	p := C.CString(path)
	defer C.free(unsafe.Pointer(p))
	return vm.chardev("vmm_chardev_socket", func(c *C.vmm_vm_t, out **C.vmm_chardev_t) C.int {
		return C.vmm_chardev_socket(c, p, out)
	})
}

// BufferChardev keeps up to capacity unread bytes of guest output for
// Read; Write hands bytes to the guest.
func (vm *VM) BufferChardev(capacity int) (*Chardev, error) {
	if capacity < 0 {
		return nil, &Error{Op: "vmm_chardev_buffer", Code: EINVAL, Message: "negative capacity"}
	}
	return vm.chardev("vmm_chardev_buffer", func(c *C.vmm_vm_t, out **C.vmm_chardev_t) C.int {
		return C.vmm_chardev_buffer(c, C.size_t(capacity), out)
	})
}

// Read takes up to len(p) bytes the guest wrote to a buffer back-end; 0
// when there are none (it does not block).
func (ch *Chardev) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := C.int(0)
	err := ch.vm.live("vmm_chardev_buffer_read", func(*C.vmm_vm_t) C.int {
		n = C.vmm_chardev_buffer_read(ch.c, unsafe.Pointer(&p[0]), C.size_t(len(p)))
		return n
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// Write hands p to the guest as input on a buffer back-end.
func (ch *Chardev) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	err := ch.vm.live("vmm_chardev_buffer_write", func(*C.vmm_vm_t) C.int {
		return C.vmm_chardev_buffer_write(ch.c, unsafe.Pointer(&p[0]), C.size_t(len(p)))
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// UARTOptions configures a 16550A UART; the zero value is COM1 (port
// 0x3F8, GSI 4) with its output discarded.
type UARTOptions struct {
	Port    uint16   // 0: 0x3F8
	IRQ     uint32   // GSI (needs WithIRQChip to interrupt); 0: 4
	Chardev *Chardev // nil: output discarded, no input
}

// AddUART attaches a 16550A UART.
func (vm *VM) AddUART(o UARTOptions) (*Device, error) {
	var cfg C.vmm_uart_config_t
	cfg.size = C.size_t(unsafe.Sizeof(cfg))
	cfg.port = C.uint16_t(o.Port)
	if cfg.port == 0 {
		cfg.port = 0x3f8
	}
	cfg.irq = C.uint32_t(o.IRQ)
	if cfg.irq == 0 {
		cfg.irq = 4
	}
	if o.Chardev != nil {
		cfg.chardev = o.Chardev.c
	}
	return vm.device("vmm_uart_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_uart_create(c, &cfg, out)
	})
}

// AddDebugExit attaches a QEMU isa-debug-exit compatible port (0: 0xF4):
// a guest write of v stops the VM with status (v << 1) | 1.
func (vm *VM) AddDebugExit(port uint16) (*Device, error) {
	return vm.device("vmm_debug_exit_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_debug_exit_create(c, C.uint16_t(port), out)
	})
}

// AddI8042 attaches the i8042 reset line (0xFE to port 0x64 resets).
func (vm *VM) AddI8042() (*Device, error) {
	return vm.device("vmm_i8042_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_i8042_create(c, out)
	})
}

// AddRTC attaches a CMOS real-time clock at ports 0x70/0x71.
func (vm *VM) AddRTC() (*Device, error) {
	return vm.device("vmm_rtc_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_rtc_create(c, out)
	})
}

// AddVirtioRNG attaches a virtio entropy device fed by getrandom().
func (vm *VM) AddVirtioRNG(o *VirtioOptions) (*Device, error) {
	cfg := o.c()
	return vm.device("vmm_virtio_rng_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_virtio_rng_create(c, &cfg, out)
	})
}

// AddVirtioConsole attaches a virtio console port over ch (nil: output
// discarded).
func (vm *VM) AddVirtioConsole(o *VirtioOptions, ch *Chardev) (*Device, error) {
	cfg := o.c()
	var cc *C.vmm_chardev_t
	if ch != nil {
		cc = ch.c
	}
	return vm.device("vmm_virtio_console_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_virtio_console_create(c, &cfg, cc, out)
	})
}

// BlkOptions describes a virtio-blk disk over a raw image file.
type BlkOptions struct {
	Path      string // the image; its size must be a multiple of 512
	ReadOnly  bool
	NumQueues uint16 // 0: 1
	Serial    string // the GET_ID answer (at most 20 bytes); "" derives one
}

// AddVirtioBlk attaches a virtio block device.
func (vm *VM) AddVirtioBlk(o *VirtioOptions, b BlkOptions) (*Device, error) {
	cfg := o.c()
	var blk C.vmm_virtio_blk_config_t
	blk.size = C.size_t(unsafe.Sizeof(blk))
	path := C.CString(b.Path)
	defer C.free(unsafe.Pointer(path))
	blk.path = path
	if b.ReadOnly {
		blk.flags |= C.VMM_BLK_F_READONLY
	}
	blk.num_queues = C.uint16_t(b.NumQueues)
	if len(b.Serial) > len(blk.serial) {
		return nil, &Error{Op: "vmm_virtio_blk_create", Code: EINVAL,
			Message: "the serial is longer than 20 bytes"}
	}
	for i := 0; i < len(b.Serial); i++ {
		blk.serial[i] = C.char(b.Serial[i])
	}
	return vm.device("vmm_virtio_blk_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_virtio_blk_create(c, &cfg, &blk, out)
	})
}

// NetOptions chooses a virtio-net back-end: a tap interface (Tap set),
// or a unix socket given as a connected descriptor (FD >= 0, which libvmm
// then owns) or a path to connect to.
type NetOptions struct {
	Tap  string  // interface name: the tap back-end
	FD   int     // socket back-end: a connected SOCK_SEQPACKET/SOCK_DGRAM socket, or -1
	Path string  // socket back-end with FD -1: where to connect
	MAC  [6]byte // all zero: a random locally administered address
}

// AddVirtioNet attaches a virtio network device.
func (vm *VM) AddVirtioNet(o *VirtioOptions, n NetOptions) (*Device, error) {
	cfg := o.c()
	var net C.vmm_virtio_net_config_t
	net.size = C.size_t(unsafe.Sizeof(net))
	net.backend = C.VMM_NET_SOCKET
	net.fd = C.int32_t(n.FD)
	name := n.Path
	if n.Tap != "" {
		net.backend = C.VMM_NET_TAP
		net.fd = -1
		name = n.Tap
	}
	var cname *C.char
	if name != "" {
		cname = C.CString(name)
		defer C.free(unsafe.Pointer(cname))
	}
	net.name = cname
	for i, b := range n.MAC {
		net.mac[i] = C.uint8_t(b)
	}
	return vm.device("vmm_virtio_net_create", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_virtio_net_create(c, &cfg, &net, out)
	})
}

// FindDevice looks a device up by its id (from a JSON description or
// SetID).
func (vm *VM) FindDevice(id string) (*Device, error) {
	p := C.CString(id)
	defer C.free(unsafe.Pointer(p))
	return vm.device("vmm_vm_find_device", func(c *C.vmm_vm_t, out **C.vmm_device_t) C.int {
		return C.vmm_vm_find_device(c, p, out)
	})
}

// str reads a string property while the VM is open ("" after Close).
func (d *Device) str(f func() *C.char) string {
	d.vm.mu.RLock()
	defer d.vm.mu.RUnlock()
	if d.vm.c == nil {
		return ""
	}
	if s := f(); s != nil {
		return C.GoString(s)
	}
	return ""
}

// Type is the device's kind: "uart16550", "virtio-rng", ...
func (d *Device) Type() string { return d.str(func() *C.char { return C.vmm_device_type(d.c) }) }

// Err is why the device last stopped serving the guest ("" if it never
// did): a virtio device serves again after the driver resets it.
func (d *Device) Err() string { return d.str(func() *C.char { return C.vmm_device_error(d.c) }) }

// ID is the device's id ("" if none).
func (d *Device) ID() string { return d.str(func() *C.char { return C.vmm_device_id(d.c) }) }

// SetID names the device for FindDevice and the VM's description.
func (d *Device) SetID(id string) error {
	p := C.CString(id)
	defer C.free(unsafe.Pointer(p))
	return d.vm.live("vmm_device_set_id", func(*C.vmm_vm_t) C.int { return C.vmm_device_set_id(d.c, p) })
}

// MMIOBase is where a virtio-mmio device's registers are (0 otherwise).
func (d *Device) MMIOBase() uint64 {
	d.vm.mu.RLock()
	defer d.vm.mu.RUnlock()
	if d.vm.c == nil {
		return 0
	}
	return uint64(C.vmm_virtio_mmio_base(d.c))
}

// IRQ is a virtio device's interrupt line (GSI).
func (d *Device) IRQ() uint32 {
	d.vm.mu.RLock()
	defer d.vm.mu.RUnlock()
	if d.vm.c == nil {
		return 0
	}
	return uint32(C.vmm_virtio_irq(d.c))
}
