//go:build windows

package paths

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// checkOwner reads the folder's security descriptor through a handle that
// does not follow a reparse point: the owner must be the user and no entry
// may let anyone but the user, SYSTEM and Administrators write (SPEC §3).
// %LOCALAPPDATA% passes; a folder under C:\ inherits "Authenticated Users:
// Modify" and is refused.
func checkOwner(dir string, _ os.FileInfo) error {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", dir, err)
	}
	// BACKUP_SEMANTICS opens a directory; READ_CONTROL is all it needs.
	h, err := windows.CreateFile(p, windows.READ_CONTROL,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer windows.CloseHandle(h)
	return checkSecurity(h, dir, true, func(p *aclProblem, reason, fix string) error {
		return &UntrustedError{Path: dir, Reason: reason, Fix: fix}
	})
}

// checkPrivateFile applies the same rule to the session file, through the
// handle it was opened with.
func checkPrivateFile(f *os.File, _ os.FileInfo) error {
	return checkSecurity(windows.Handle(f.Fd()), f.Name(), false, func(p *aclProblem, reason, fix string) error {
		return fmt.Errorf("%s is %s: %w (fix: %s)", f.Name(), reason, ErrNotPrivate, fix)
	})
}

// checkSecurity reads the owner and DACL of h and judges them; refuse
// builds the error for a descriptor that is not trusted.
func checkSecurity(h windows.Handle, path string, dir bool, refuse func(p *aclProblem, reason, fix string) error) error {
	user, err := currentUserSID()
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", path, err)
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", path, err)
	}
	facts, err := factsOf(sd)
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", path, err)
	}
	p := judgeSecurity(facts, user.String())
	if p == nil {
		return nil
	}
	return refuse(p, describeProblem(p, accountName), aclFix(path, icaclsAccount(user), dir))
}

// factsOf turns a security descriptor into what judgeSecurity reads.
func factsOf(sd *windows.SECURITY_DESCRIPTOR) (securityFacts, error) {
	owner, _, err := sd.Owner()
	if err != nil {
		return securityFacts{}, fmt.Errorf("reading the owner: %w", err)
	}
	f := securityFacts{Owner: owner.String()}
	dacl, _, err := sd.DACL()
	switch {
	case errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND), err == nil && dacl == nil:
		// No DACL, or a NULL one: nothing restricts access.
		f.NullDACL = true
		return f, nil
	case err != nil:
		return securityFacts{}, fmt.Errorf("reading the access control list: %w", err)
	}
	for i := range uint32(dacl.AceCount) {
		var e *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &e); err != nil {
			return securityFacts{}, fmt.Errorf("reading access control entry %d: %w", i, err)
		}
		a := ace{Mask: uint32(e.Mask), Type: e.Header.AceType, Flags: e.Header.AceFlags}
		if sidFollowsMask(a.Type) {
			// An object entry's SID stays "": a stranger.
			a.SID = (*windows.SID)(unsafe.Pointer(&e.SidStart)).String()
		}
		f.ACEs = append(f.ACEs, a)
	}
	return f, nil
}

// currentUserSID is the SID of the user this process runs as.
var currentUserSID = sync.OnceValues(func() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("reading the current user: %w", err)
	}
	return u.User.Sid.Copy()
})

// accountName names a SID for a message: DOMAIN\name (SID), or the SID.
func accountName(s string) string {
	sid, err := windows.StringToSid(s)
	if err != nil {
		return s
	}
	name, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil || name == "":
		return s
	case domain == "":
		return name + " (" + s + ")"
	}
	return domain + `\` + name + " (" + s + ")"
}

// icaclsAccount is how icacls names the user: DOMAIN\name, or *SID.
func icaclsAccount(sid *windows.SID) string {
	name, domain, _, err := sid.LookupAccount("")
	switch {
	case err != nil || name == "":
		return "*" + sid.String()
	case domain == "":
		return name
	}
	return domain + `\` + name
}

// openFlags are added to every open under the runtime root: a final
// reparse point (symlink, junction) is opened itself, never followed, and
// checkOpened then refuses it.
const openFlags = windows.FILE_FLAG_OPEN_REPARSE_POINT

// checkOpened refuses what the handle shows is not a regular file on disk:
// a reparse point, a directory, a pipe or a device.
func checkOpened(f *os.File) error {
	h := windows.Handle(f.Fd())
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return fmt.Errorf("opening %s: %w", f.Name(), err)
	}
	kind, err := windows.GetFileType(h)
	if err != nil {
		return fmt.Errorf("opening %s: %w", f.Name(), err)
	}
	if what := notRegular(info.FileAttributes, kind); what != "" {
		return fmt.Errorf("opening %s: %w (%s)", f.Name(), ErrNotRegular, what)
	}
	return nil
}

var errLoop error = errNever

type neverErr struct{}

func (neverErr) Error() string { return "never" }

var errNever = neverErr{}
