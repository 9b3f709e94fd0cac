package syncd

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spec-kitty/spec-kitty/internal/api"
	"github.com/spec-kitty/spec-kitty/internal/paths"
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
	var rec api.InstanceRecord
	data, err := paths.ReadFileLimit(path, 64<<10)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
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
