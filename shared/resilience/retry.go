// Package resilience keeps a dead or slow dependency from taking a function down with
// it: bounded retries with exponential backoff and jitter for transient failures, and
// circuit breakers that fail fast (503 + Retry-After at the HTTP edge) once a
// dependency keeps failing.
package resilience

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy bounds a retry loop. The zero value means the contract's defaults (bn §4.5):
// 4 attempts (3 retries), 1 s initial delay, factor 2, 60 s cap, ±25 % jitter.
type Policy struct {
	MaxAttempts     uint
	InitialInterval time.Duration
	MaxInterval     time.Duration
	Multiplier      float64
	Jitter          float64 // randomization factor, 0.25 = ±25 %
	MaxElapsed      time.Duration
	// Retryable classifies errors; nil retries every error except Permanent ones and
	// context cancellation.
	Retryable func(error) bool
	// OnRetry is called before each wait (logging, metrics).
	OnRetry func(err error, wait time.Duration)
}

func (p Policy) withDefaults() Policy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 4
	}
	if p.InitialInterval <= 0 {
		p.InitialInterval = time.Second
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = 60 * time.Second
	}
	if p.Multiplier <= 0 {
		p.Multiplier = 2
	}
	if p.Jitter <= 0 || p.Jitter > 1 {
		p.Jitter = 0.25
	}
	return p
}

// Permanent marks err as not worth retrying; Retry returns it (unwrapped) at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return backoff.Permanent(err)
}

// Retry runs op until it succeeds, fails permanently, the attempts or elapsed time
// run out, or ctx ends (the wait between attempts is cut short by ctx).
func Retry[T any](ctx context.Context, p Policy, op func(ctx context.Context) (T, error)) (T, error) {
	p = p.withDefaults()
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialInterval,
		RandomizationFactor: p.Jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.MaxInterval,
	}
	opts := []backoff.RetryOption{backoff.WithBackOff(b), backoff.WithMaxTries(p.MaxAttempts), backoff.WithMaxElapsedTime(p.MaxElapsed)}
	if p.OnRetry != nil {
		opts = append(opts, backoff.WithNotify(p.OnRetry))
	}
	v, err := backoff.Retry(ctx, func() (T, error) {
		v, err := op(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) || (p.Retryable != nil && !p.Retryable(err)) || IsOpen(err) {
			return v, backoff.Permanent(err)
		}
		return v, err
	}, opts...)
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		err = perm.Unwrap()
	}
	return v, err
}

// Do is Retry for operations without a result.
func Do(ctx context.Context, p Policy, op func(ctx context.Context) error) error {
	_, err := Retry(ctx, p, func(ctx context.Context) (struct{}, error) { return struct{}{}, op(ctx) })
	return err
}
