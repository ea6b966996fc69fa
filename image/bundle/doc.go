// Package bundle turns a stored image into an OCI runtime bundle: a
// directory holding rootfs/ and config.json, what "umoci unpack" writes and
// what "hull run" (or runc) runs.
//
// config.json starts from a base spec (runtime.DefaultSpec: the
// namespaces, mounts, capabilities and masked paths of "runc spec") and
// takes from the image config, as image-spec's conversion.md says:
//
//	Entrypoint + Cmd         → process.args
//	Env                      → process.env (replacing the base's same names)
//	WorkingDir               → process.cwd
//	User "name[:group]"      → process.user, resolved through the image's
//	                           own /etc/passwd and /etc/group
//	os, architecture, author, created, StopSignal, ExposedPorts
//	                         → org.opencontainers.image.* annotations
//	Volumes                  → the hull.image.volumes annotation
//	Labels                   → annotations, taking precedence
//
// The user database is read through an os.Root on the unpacked rootfs, so
// an image whose /etc/passwd is a symlink to a host file cannot make the
// converter read it.
package bundle
