// Package shared is the root of the module every SQAL function imports.
package shared
