package paths

import (
	"fmt"
	"strings"
)

// The Windows trust check (SPEC §3): the owner of a folder of the runtime
// root, or of the session file, is the current user, and no entry of its
// DACL lets anyone but the user, SYSTEM and Administrators write, delete or
// change it. The decision is a pure function over the entries, built on
// every platform so that it is tested everywhere; only reading the security
// descriptor is Windows code.

// Well-known SIDs the check trusts besides the user's own.
const (
	sidSystem         = "S-1-5-18"
	sidAdministrators = "S-1-5-32-544"
	// sidCreatorOwner in an inherit-only entry is a template: a child
	// gets it as its creator's SID, so it grants a stranger nothing.
	sidCreatorOwner = "S-1-3-0"
	// sidOwnerRights names the object's owner, who must be the user.
	sidOwnerRights = "S-1-3-4"
)

// ACE types and flags (winnt.h) the check reads.
const (
	aceAccessAllowed               = 0x0 // ACCESS_ALLOWED_ACE_TYPE
	aceAccessDenied                = 0x1 // ACCESS_DENIED_ACE_TYPE
	aceAccessAllowedObject         = 0x5 // ACCESS_ALLOWED_OBJECT_ACE_TYPE
	aceAccessAllowedCallback       = 0x9 // ACCESS_ALLOWED_CALLBACK_ACE_TYPE
	aceAccessDeniedCallback        = 0xa // ACCESS_DENIED_CALLBACK_ACE_TYPE
	aceAccessAllowedCallbackObject = 0xb // ACCESS_ALLOWED_CALLBACK_OBJECT_ACE_TYPE
	aceInheritOnly                 = 0x8 // INHERIT_ONLY_ACE
)

// writeRights are the access bits that let a SID change a folder or a file
// (what it holds, its name, who may use it) rather than only read it:
// FILE_WRITE_DATA (FILE_ADD_FILE), FILE_APPEND_DATA (FILE_ADD_SUBDIRECTORY),
// FILE_WRITE_EA, FILE_DELETE_CHILD, FILE_WRITE_ATTRIBUTES, DELETE,
// WRITE_DAC, WRITE_OWNER, GENERIC_ALL and GENERIC_WRITE.
const writeRights uint32 = 0x2 | 0x4 | 0x10 | 0x40 | 0x100 |
	0x00010000 | 0x00040000 | 0x00080000 | 0x10000000 | 0x40000000

// ace is one entry of a DACL as the trust check sees it.
type ace struct {
	SID   string // S-1-5-…
	Mask  uint32 // access mask
	Type  uint8  // ACE type
	Flags uint8  // ACE flags
}

// securityFacts is what the trust check reads of one security descriptor.
type securityFacts struct {
	Owner string // SID of the owner
	// NullDACL is a descriptor without a DACL: everyone may do anything.
	NullDACL bool
	ACEs     []ace
}

// aclProblem says why a security descriptor is not trusted; nil when it is.
type aclProblem struct {
	// Owner is set when the owner is someone else.
	Owner string
	// Writer and Mask are set for the first entry that lets a stranger
	// write; Writer is "" with NullDACL.
	Writer   string
	Mask     uint32
	NullDACL bool
}

// judgeSecurity is the decision: owner first, then every entry that
// allows access. A denying entry is ignored (it can only take rights away,
// and ignoring it errs on the side of refusing); an inherit-only entry
// still counts, since it is what the files created inside will grant —
// except the CREATOR OWNER template, which becomes the creator.
func judgeSecurity(f securityFacts, user string) *aclProblem {
	if !strings.EqualFold(f.Owner, user) {
		return &aclProblem{Owner: f.Owner}
	}
	if f.NullDACL {
		return &aclProblem{NullDACL: true, Mask: writeRights}
	}
	for _, a := range f.ACEs {
		if !allows(a.Type) || a.Mask&writeRights == 0 || trustedWriter(a, user) {
			continue
		}
		return &aclProblem{Writer: a.SID, Mask: a.Mask}
	}
	return nil
}

func allows(t uint8) bool {
	switch t {
	case aceAccessAllowed, aceAccessAllowedObject, aceAccessAllowedCallback, aceAccessAllowedCallbackObject:
		return true
	}
	return false
}

func trustedWriter(a ace, user string) bool {
	switch strings.ToUpper(a.SID) {
	case strings.ToUpper(user), sidSystem, sidAdministrators, sidOwnerRights:
		return true
	case sidCreatorOwner:
		return a.Flags&aceInheritOnly != 0
	}
	return false
}

// aclFix is the command that makes a folder or file private: owned by the
// user, its inherited entries dropped, full control for the user, SYSTEM
// and Administrators only. account is how icacls names the user
// (DOMAIN\name, or *SID when the name is unknown).
func aclFix(path, account string, dir bool) string {
	grant := "F"
	if dir {
		grant = "(OI)(CI)F"
	}
	return fmt.Sprintf(`icacls "%s" /setowner "%s" && icacls "%s" /inheritance:r /grant:r "%s:%s" /grant:r "*%s:%s" /grant:r "*%s:%s"`,
		path, account, path, account, grant, sidSystem, grant, sidAdministrators, grant)
}

// describeProblem is the reason of an UntrustedError: who owns or may
// write the path, by name when name knows the SID.
func describeProblem(p *aclProblem, name func(sid string) string) string {
	switch {
	case p.Owner != "":
		return fmt.Sprintf("owned by %s, not you", name(p.Owner))
	case p.NullDACL:
		return "open to everyone (no access control list)"
	}
	return fmt.Sprintf("writable by %s (access mask %#x)", name(p.Writer), p.Mask)
}

// sidFollowsMask reports whether an entry of type t stores its SID right
// after the access mask; the object types put GUIDs there first.
func sidFollowsMask(t uint8) bool {
	switch t {
	case aceAccessAllowed, aceAccessDenied, aceAccessAllowedCallback, aceAccessDeniedCallback:
		return true
	}
	return false
}

// File attributes and types (winnt.h, GetFileType) that make an opened
// path something other than a regular file on disk.
const (
	fileAttributeDirectory    = 0x10
	fileAttributeReparsePoint = 0x400
	fileTypeDisk              = 0x1
)

// notRegular says what an opened path is when it is not a regular file on
// disk, from its attributes and file type; "" for a regular file. A
// reparse point of any kind is refused: it was opened itself, not
// followed, so what it points to was never checked.
func notRegular(attrs, fileType uint32) string {
	switch {
	case attrs&fileAttributeReparsePoint != 0:
		return "a reparse point: a symlink or junction"
	case attrs&fileAttributeDirectory != 0:
		return "a directory"
	case fileType != fileTypeDisk:
		return "a pipe or device"
	}
	return ""
}
