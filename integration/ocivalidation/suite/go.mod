// This module only pins the OCI runtime-tools validation suite that
// package ocivalidation builds and runs against hull and runc. It is a
// module of its own so that the suite's old dependencies stay out of
// hull's go.mod.
module github.com/hullrt/hull/integration/ocivalidation/suite

go 1.26.0

require github.com/opencontainers/runtime-tools v0.9.1-0.20251114084447-edf4cb3d2116

require (
	github.com/google/uuid v1.3.0 // indirect
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/hashicorp/go-multierror v1.1.1 // indirect
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b // indirect
	github.com/moby/sys/capability v0.4.0 // indirect
	github.com/moby/sys/mountinfo v0.7.2 // indirect
	github.com/mrunalp/fileutils v0.5.0 // indirect
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	github.com/opencontainers/selinux v1.9.1 // indirect
	github.com/sirupsen/logrus v1.8.1 // indirect
	github.com/urfave/cli v1.19.1 // indirect
	golang.org/x/sys v0.1.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
