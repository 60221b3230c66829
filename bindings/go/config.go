package vmm

/*
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// Config is a parsed and validated JSON VM description (docs/config.md).
type Config struct {
	c *C.vmm_config_t
}

// ParseConfig parses and checks a JSON VM description. A failure is an
// *Error whose Message starts with the JSON path of the offending field.
// Relative paths inside are taken relative to the current directory.
func ParseConfig(json []byte) (*Config, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	var c *C.vmm_config_t
	var p *C.char
	if len(json) > 0 {
		p = (*C.char)(unsafe.Pointer(&json[0]))
	}
	if err := call("vmm_config_parse", func() C.int {
		return C.vmm_config_parse(p, C.size_t(len(json)), &c)
	}); err != nil {
		return nil, err
	}
	return wrapConfig(c), nil
}

// ParseConfigFile parses a description file; relative paths inside it are
// taken relative to its directory.
func ParseConfigFile(path string) (*Config, error) {
	if err := CheckVersion(); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var c *C.vmm_config_t
	if err := call("vmm_config_parse_file", func() C.int {
		return C.vmm_config_parse_file(cpath, &c)
	}); err != nil {
		return nil, err
	}
	return wrapConfig(c), nil
}

func wrapConfig(c *C.vmm_config_t) *Config {
	cfg := &Config{c: c}
	runtime.SetFinalizer(cfg, (*Config).Close)
	return cfg
}

// Close frees the description (a VM built from it lives on).
func (cfg *Config) Close() {
	if cfg.c != nil {
		C.vmm_config_free(cfg.c)
		cfg.c = nil
		runtime.SetFinalizer(cfg, nil)
	}
}

// VCPUs is the number of vCPUs the description asks for.
func (cfg *Config) VCPUs() uint32 { return uint32(C.vmm_config_vcpus(cfg.c)) }

// ControlPath is the control socket path of the description, "" if none.
func (cfg *Config) ControlPath() string {
	if p := C.vmm_config_control_path(cfg.c); p != nil {
		return C.GoString(p)
	}
	return ""
}

// NewVMFromConfig builds the VM a description asks for: memory, vCPUs,
// devices, the payload loaded and vCPU 0 ready. The VM is left created:
// run it with Start and Wait.
func NewVMFromConfig(cfg *Config) (*VM, error) {
	if cfg == nil || cfg.c == nil {
		return nil, &Error{Op: "vmm_vm_create_from_config", Code: EINVAL, Message: "no config"}
	}
	var vm *C.vmm_vm_t
	if err := call("vmm_vm_create_from_config", func() C.int {
		return C.vmm_vm_create_from_config(cfg.c, &vm)
	}); err != nil {
		return nil, err
	}
	runtime.KeepAlive(cfg)
	return wrapVM(vm), nil
}

// NewVMFromJSON parses json and builds its VM.
func NewVMFromJSON(json []byte) (*VM, error) {
	cfg, err := ParseConfig(json)
	if err != nil {
		return nil, err
	}
	defer cfg.Close()
	return NewVMFromConfig(cfg)
}

// NewVMFromFile parses the description file at path and builds its VM.
func NewVMFromFile(path string) (*VM, error) {
	cfg, err := ParseConfigFile(path)
	if err != nil {
		return nil, err
	}
	defer cfg.Close()
	return NewVMFromConfig(cfg)
}

// DescribeJSON is the VM's description in the schema ParseConfig reads.
func (vm *VM) DescribeJSON() (string, error) {
	c, err := vm.handle("vmm_vm_describe_json")
	if err != nil {
		return "", err
	}
	var out *C.char
	if err := call("vmm_vm_describe_json", func() C.int { return C.vmm_vm_describe_json(c, &out) }); err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoString(out), nil
}
