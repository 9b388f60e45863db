// Package notmain is not a task: a fused build refuses it.
package notmain
