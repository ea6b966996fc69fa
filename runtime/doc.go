// Package runtime is hull's OCI runtime: it turns a bundle's config.json
// into a running container, the way runc, crun and youki do.
//
// The data flows one way:
//
//	config.json ──LoadSpec──▶ *specs.Spec ──Validate──▶ ok
//	            ──NewPlan──▶ *Plan ──(parent: clone, cgroups, hooks)──▶ init
//	                                 ──(init: the plan's steps, in order)──▶ execve
//
// Validation and planning are pure functions of the spec and a few host
// facts; only applying the plan makes system calls. A Plan is printable
// data: "hull create --explain" prints the very steps that the container's
// init would run, in system-call terms.
package runtime
