// Package cgroups places containers in Linux control groups and applies
// the OCI runtime spec's linux.resources to them.
package cgroups
