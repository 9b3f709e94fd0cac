package procinfo

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// procargs2 lays out a kern.procargs2 buffer as XNU's sysctl_procargsx
// writes it: argc, the exec path, NUL padding, argv, then the environment
// and the apple[] strings.
func procargs2(argc int32, exe string, pad int, strs ...string) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, uint32(argc))
	buf = append(buf, exe...)
	buf = append(buf, make([]byte, 1+pad)...)
	for _, s := range strs {
		buf = append(buf, s...)
		buf = append(buf, 0)
	}
	return buf
}

func TestParseProcArgs2(t *testing.T) {
	daemon := []string{"/usr/local/bin/spec-kitty", "sync", "daemon", "--port", "9401"}
	env := []string{"HOME=/Users/me", "SPEC_KITTY_TOKEN=secret", "", "executable_path=/usr/local/bin/spec-kitty", "ptr_munge="}
	cases := []struct {
		name     string
		buf      []byte
		wantExe  string
		wantArgv []string
	}{
		{
			name:     "daemon with environment and apple strings after argv",
			buf:      procargs2(5, "/usr/local/bin/spec-kitty", 6, append(daemon, env...)...),
			wantExe:  "/usr/local/bin/spec-kitty",
			wantArgv: daemon,
		},
		{
			name:     "no padding after the exec path",
			buf:      procargs2(2, "/bin/sleep", 0, "sleep", "30", "PATH=/bin"),
			wantExe:  "/bin/sleep",
			wantArgv: []string{"sleep", "30"},
		},
		{
			name:     "relative exec path is returned as the kernel recorded it",
			buf:      procargs2(1, "./spec-kitty", 3, "./spec-kitty"),
			wantExe:  "./spec-kitty",
			wantArgv: []string{"./spec-kitty"},
		},
		{
			name:     "empty argument inside argv is kept",
			buf:      procargs2(3, "/usr/bin/python3", 1, "python3", "", "-m"),
			wantExe:  "/usr/bin/python3",
			wantArgv: []string{"python3", "", "-m"},
		},
		{
			name:     "argument with spaces and utf-8",
			buf:      procargs2(2, "/Applications/My App.app/Contents/MacOS/My App", 2, "My App", "--naïve flag"),
			wantExe:  "/Applications/My App.app/Contents/MacOS/My App",
			wantArgv: []string{"My App", "--naïve flag"},
		},
		{
			name:     "argc zero",
			buf:      procargs2(0, "/sbin/launchd", 4),
			wantExe:  "/sbin/launchd",
			wantArgv: []string{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			exe, argv, err := ParseProcArgs2(tc.buf)
			if err != nil {
				t.Fatalf("ParseProcArgs2: %v", err)
			}
			if exe != tc.wantExe || !reflect.DeepEqual(argv, tc.wantArgv) {
				t.Errorf("ParseProcArgs2 = %q, %q; want %q, %q", exe, argv, tc.wantExe, tc.wantArgv)
			}
			for _, a := range argv {
				if strings.Contains(a, "=") && strings.Contains(a, "secret") {
					t.Errorf("environment leaked into argv: %q", argv)
				}
			}
		})
	}
}

// TestParseProcArgs2_Malformed: a buffer the kernel would not write, or one
// cut short, is refused as a whole; no partial argv comes back.
func TestParseProcArgs2_Malformed(t *testing.T) {
	full := procargs2(3, "/usr/local/bin/spec-kitty", 2, "spec-kitty", "sync", "daemon")
	cases := map[string][]byte{
		"empty":                       nil,
		"argc cut short":              {3, 0, 0},
		"negative argc":               procargs2(-1, "/bin/sh", 0, "sh"),
		"argc larger than the data":   procargs2(1000, "/bin/sh", 0, "sh"),
		"exec path not terminated":    append(binary.LittleEndian.AppendUint32(nil, 1), "/bin/sh"...),
		"fewer strings than argc":     procargs2(4, "/usr/local/bin/spec-kitty", 2, "spec-kitty", "sync", "daemon"),
		"last argv not terminated":    full[:len(full)-1],
		"cut inside the exec path":    full[:10],
		"cut inside the padding":      full[:4+len("/usr/local/bin/spec-kitty")+2],
		"only argc, no exec path":     binary.LittleEndian.AppendUint32(nil, 0),
		"argc above the kernel's max": procargs2(maxArgc+1, "/bin/sh", 0),
	}
	for name, buf := range cases {
		t.Run(name, func(t *testing.T) {
			exe, argv, err := ParseProcArgs2(buf)
			if !errors.Is(err, ErrProcArgs) || exe != "" || argv != nil {
				t.Errorf("ParseProcArgs2 = %q, %q, %v; want ErrProcArgs and nothing else", exe, argv, err)
			}
		})
	}
}

// FuzzParseProcArgs2: whatever the buffer, the parser returns either an
// error and nothing, or exactly argc strings none of which holds a NUL.
func FuzzParseProcArgs2(f *testing.F) {
	f.Add(procargs2(5, "/usr/local/bin/spec-kitty", 6, "spec-kitty", "sync", "daemon", "--port", "9401", "HOME=/x"))
	f.Add(procargs2(0, "/sbin/launchd", 0))
	f.Add(procargs2(2, "", 0, "", ""))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, buf []byte) {
		exe, argv, err := ParseProcArgs2(buf)
		if err != nil {
			if exe != "" || argv != nil {
				t.Fatalf("error %v came with %q, %q", err, exe, argv)
			}
			return
		}
		if argc := int(int32(binary.LittleEndian.Uint32(buf))); len(argv) != argc {
			t.Fatalf("argc %d, got %d strings", argc, len(argv))
		}
		for _, s := range append([]string{exe}, argv...) {
			if strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("string %q holds a NUL", s)
			}
		}
	})
}
