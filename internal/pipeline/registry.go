package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// A record that cannot be decoded because the schema registry does not
// answer (schemas.ErrUnavailable) is not at fault and must not become a
// dead letter. At-least-once waits: decoding is retried with backoff
// (100 ms doubling to 5 s) while the open batch keeps closing on its
// interval and the service reports itself unready. Exactly-once aborts the
// transaction, which is fetched again after its backoff.

const registryCondition = "client/registry"

// decode decodes rec into ev, waiting out an unavailable schema registry
// (unready meanwhile, the open batch closing on its interval). It returns
// ctx's error if ctx ends while waiting, otherwise the decoder's verdict.
// Called with p.mu held.
func (p *Pipeline) decode(ctx context.Context, rec *kgo.Record, ev *schemas.Event) error {
	waited := false
	err := schemas.DecodeWaiting(ctx, p.decoders[rec.Topic], rec.Value, ev, func(err error) {
		waited = true
		p.registryDown(err)
		p.win.Tick(time.Now())
	})
	if waited && ctx.Err() == nil {
		p.health.clear(registryCondition)
	}
	return err
}

func (p *Pipeline) registryDown(err error) {
	p.health.report(registryCondition, fmt.Sprintf("cannot decode: %v; records wait (they are not dead-lettered)", err), true)
}
