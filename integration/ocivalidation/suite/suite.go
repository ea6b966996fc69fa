// Package suite exists so that this module's go.sum covers the
// runtime-tools packages that the validation programs import.
package suite

import _ "github.com/opencontainers/runtime-tools/validation/util"
