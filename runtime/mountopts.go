package runtime

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mountOptions is a config.json mount's "options" sorted into what each
// system call needs: mount(2) flags, separate propagation changes (the
// kernel refuses them mixed with other flags), mount_setattr(2) attributes
// for the recursive r* options, and the filesystem's own data string.
type mountOptions struct {
	Flags       MountFlags   // set by mount(2)
	Clear       MountFlags   // options that clear a default ("dev", "rw", ...): kept for remounts
	Propagation []MountFlags // applied one by one after the mount
	RecSet      MountAttr    // mount_setattr(AT_RECURSIVE) attr_set
	RecClr      MountAttr    // mount_setattr(AT_RECURSIVE) attr_clr
	Data        []string     // passed to the filesystem ("mode=755,size=65536k")
	TmpCopyUp   bool         // "tmpcopyup": copy the directory's old contents into a new tmpfs
	IDMap       bool         // "idmap"/"ridmap": idmapped mount (see Mount.UIDMappings)
	RecIDMap    bool
}

// mountFlagOptions are the options that mount(2) knows, as mount(8) spells
// them: name → (flag, clear?).
var mountFlagOptions = map[string]struct {
	flag  MountFlags
	clear bool
}{
	"async":         {unix.MS_SYNCHRONOUS, true},
	"atime":         {unix.MS_NOATIME, true},
	"bind":          {unix.MS_BIND, false},
	"defaults":      {0, false},
	"dev":           {unix.MS_NODEV, true},
	"diratime":      {unix.MS_NODIRATIME, true},
	"dirsync":       {unix.MS_DIRSYNC, false},
	"exec":          {unix.MS_NOEXEC, true},
	"iversion":      {unix.MS_I_VERSION, false},
	"lazytime":      {unix.MS_LAZYTIME, false},
	"loud":          {unix.MS_SILENT, true},
	"mand":          {unix.MS_MANDLOCK, false},
	"noatime":       {unix.MS_NOATIME, false},
	"nodev":         {unix.MS_NODEV, false},
	"nodiratime":    {unix.MS_NODIRATIME, false},
	"noexec":        {unix.MS_NOEXEC, false},
	"noiversion":    {unix.MS_I_VERSION, true},
	"nolazytime":    {unix.MS_LAZYTIME, true},
	"nomand":        {unix.MS_MANDLOCK, true},
	"norelatime":    {unix.MS_RELATIME, true},
	"nostrictatime": {unix.MS_STRICTATIME, true},
	"nosuid":        {unix.MS_NOSUID, false},
	"nosymfollow":   {unix.MS_NOSYMFOLLOW, false},
	"rbind":         {unix.MS_BIND | unix.MS_REC, false},
	"relatime":      {unix.MS_RELATIME, false},
	"remount":       {unix.MS_REMOUNT, false},
	"ro":            {unix.MS_RDONLY, false},
	"rw":            {unix.MS_RDONLY, true},
	"silent":        {unix.MS_SILENT, false},
	"strictatime":   {unix.MS_STRICTATIME, false},
	"suid":          {unix.MS_NOSUID, true},
	"sync":          {unix.MS_SYNCHRONOUS, false},
	"symfollow":     {unix.MS_NOSYMFOLLOW, true},
}

// propagationOptions change a mount's propagation type after it is made.
var propagationOptions = map[string]MountFlags{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// recursiveOptions are runc's r* attributes applied to a whole mount tree
// with mount_setattr(2) and AT_RECURSIVE (Linux 5.12).
var recursiveOptions = map[string]struct {
	attr  MountAttr
	clear bool
}{
	"rro":          {unix.MOUNT_ATTR_RDONLY, false},
	"rrw":          {unix.MOUNT_ATTR_RDONLY, true},
	"rnosuid":      {unix.MOUNT_ATTR_NOSUID, false},
	"rsuid":        {unix.MOUNT_ATTR_NOSUID, true},
	"rnodev":       {unix.MOUNT_ATTR_NODEV, false},
	"rdev":         {unix.MOUNT_ATTR_NODEV, true},
	"rnoexec":      {unix.MOUNT_ATTR_NOEXEC, false},
	"rexec":        {unix.MOUNT_ATTR_NOEXEC, true},
	"rnodiratime":  {unix.MOUNT_ATTR_NODIRATIME, false},
	"rdiratime":    {unix.MOUNT_ATTR_NODIRATIME, true},
	"rnoatime":     {unix.MOUNT_ATTR_NOATIME, false},
	"rstrictatime": {unix.MOUNT_ATTR_STRICTATIME, false},
	"rnosymfollow": {unix.MOUNT_ATTR_NOSYMFOLLOW, false},
	"rsymfollow":   {unix.MOUNT_ATTR_NOSYMFOLLOW, true},
}

// parseMountOptions sorts options. It never fails: anything it does not
// know is filesystem data (as mount(8) does), and the filesystem says
// whether it takes it.
func parseMountOptions(opts []string) mountOptions {
	var m mountOptions
	for _, o := range opts {
		if f, ok := mountFlagOptions[o]; ok {
			if f.clear {
				m.Flags &^= f.flag
				m.Clear |= f.flag
			} else {
				m.Flags |= f.flag
				m.Clear &^= f.flag
			}
			continue
		}
		if p, ok := propagationOptions[o]; ok {
			m.Propagation = append(m.Propagation, p)
			continue
		}
		if r, ok := recursiveOptions[o]; ok {
			if r.clear {
				m.RecClr |= r.attr
			} else {
				m.RecSet |= r.attr
			}
			continue
		}
		switch o {
		case "tmpcopyup":
			m.TmpCopyUp = true
			continue
		case "idmap":
			m.IDMap = true
			continue
		case "ridmap":
			m.IDMap, m.RecIDMap = true, true
			continue
		}
		m.Data = append(m.Data, o)
	}
	return m
}

// knownMountOptions lists every option name hull gives a meaning to, for
// "hull features".
func knownMountOptions() []string {
	var out []string
	for k := range mountFlagOptions {
		out = append(out, k)
	}
	for k := range propagationOptions {
		out = append(out, k)
	}
	for k := range recursiveOptions {
		out = append(out, k)
	}
	out = append(out, "tmpcopyup", "idmap", "ridmap")
	return out
}

func (m mountOptions) data() string { return strings.Join(m.Data, ",") }

func (m mountOptions) String() string {
	return fmt.Sprintf("%s data=%q", m.Flags, m.data())
}
