// Package events is the CloudEvents plumbing of the product: publishing with stable ids
// and trace propagation, the transactional outbox and its relay, idempotent consumers,
// and the local event bus that applies the Knative Trigger files.
package events

import "errors"

// permanentError marks a failure that retrying cannot fix (bad data): consumers
// answer it with 4xx so Knative sends the event to the dead-letter sink instead of retrying.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err as a permanent (non-retryable) failure. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err (or anything it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
