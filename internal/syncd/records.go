package syncd

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/paths"
	"github.com/spec-kitty/spec-kitty/internal/procinfo"
)

// writeRecords writes daemons/<port>.json (kill-free graceful shutdown for a
// same-scope cleaner) and daemon/owner.json (reporting only).
func (d *Daemon) writeRecords() error {
	inst := api.InstanceRecord{
		PID:       os.Getpid(),
		Port:      d.cfg.Port,
		Token:     d.cfg.Token,
		Version:   d.cfg.Version,
		StartedAt: d.startedAt,
	}
	if info, err := procinfo.Read(inst.PID); err == nil {
		inst.ProcStartTime = info.StartTime
	}
	if err := writeJSON(d.cfg.Layout.InstanceFile(d.cfg.Port), inst); err != nil {
		return err
	}
	owner := api.OwnerRecord{
		PID:            inst.PID,
		Port:           inst.Port,
		PackageVersion: inst.Version,
		ExecutablePath: d.exe,
		ScopeID:        d.cfg.Layout.ScopeID(),
		StartedAt:      d.startedAt,
	}
	return writeJSON(d.cfg.Layout.OwnerFile(), owner)
}

// removeRecords removes this daemon's per-instance record and the owner
// record, each only while it still names this daemon (SPEC §3).
func (d *Daemon) removeRecords() {
	d.removeInstanceRecord()
	d.removeOwnerRecord()
}

// removeOwnerRecord removes daemon/owner.json when it names this daemon.
func (d *Daemon) removeOwnerRecord() {
	path := d.cfg.Layout.OwnerFile()
	data, err := paths.ReadFileLimit(path, 64<<10)
	if err != nil {
		return
	}
	o, err := api.ParseOwnerRecord(data)
	if err != nil || o.PID != os.Getpid() || o.Port != d.cfg.Port {
		return
	}
	if err := paths.RemoveIfExists(path); err != nil {
		d.log.Warn("removing owner record", "err", err)
	}
}

// removeInstanceRecord removes this daemon's record, unless another daemon
// has since written its own record for the port.
func (d *Daemon) removeInstanceRecord() {
	path := d.cfg.Layout.InstanceFile(d.cfg.Port)
	rec, err := ReadInstanceRecord(path)
	if err != nil || rec.PID != os.Getpid() {
		return
	}
	if err := paths.RemoveIfExists(path); err != nil {
		d.log.Warn("removing instance record", "err", err)
	}
}

// ReadInstanceRecord reads one daemons/<port>.json.
func ReadInstanceRecord(path string) (api.InstanceRecord, error) {
	data, err := paths.ReadFileLimit(path, 64<<10)
	if err != nil {
		return api.InstanceRecord{}, err
	}
	rec, err := api.ParseInstanceRecord(data)
	if err != nil {
		return rec, fmt.Errorf("reading %s: %w", path, err)
	}
	return rec, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return paths.WriteFileAtomic(path, append(data, '\n'), 0o600)
}
