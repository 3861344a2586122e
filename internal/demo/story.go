package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/schemas"
)

// StoryCustomer is the customer of the demo's scripted story (the
// generator's customers are cust-000000 …).
const StoryCustomer = "cust-story"

// storyStep is one event of the story: a transaction or an activity
// event, and what to say about its prediction (empty: nothing).
type storyStep struct {
	kind   schemas.EventType
	fields []schemas.Field
	say    string
	role   string // "before" or "after": the same purchase on either side of the failed logins
}

func txFields(amount float64, merchant, category, country, channel string, cardPresent bool) []schemas.Field {
	return []schemas.Field{{Name: "amount", Value: schemas.NumberValue(amount)}, {Name: "currency", Value: schemas.StringValue("EUR")},
		{Name: "merchant", Value: schemas.StringValue(merchant)}, {Name: "merchant_category", Value: schemas.StringValue(category)},
		{Name: "country", Value: schemas.StringValue(country)}, {Name: "channel", Value: schemas.StringValue(channel)},
		{Name: "card_present", Value: schemas.BoolValue(cardPresent)}}
}

func actFields(kind, device, ip string, newDevice bool) []schemas.Field {
	return []schemas.Field{{Name: "activity_type", Value: schemas.StringValue(kind)}, {Name: "device", Value: schemas.StringValue(device)},
		{Name: "ip_country", Value: schemas.StringValue(ip)}, {Name: "new_device", Value: schemas.BoolValue(newDevice)}}
}

// story is an account takeover told in a few seconds: a customer's usual
// groceries, six failed logins from Nigeria on a new device, a login there
// and a password change, then the very same groceries again and an
// electronics order online. The fraud model reads the customer's history
// across both topics (failed logins in the last hour, new-device logins,
// seconds since the login, the usual spend), so the same purchase scores
// far higher after the failed logins than before.
func story() []storyStep {
	groceries := txFields(24.50, "merch-0007", "grocery", "NL", "pos", true)
	steps := []storyStep{
		{kind: schemas.Activity, fields: actFields("login", "ios", "NL", false)},
		{kind: schemas.Transaction, fields: txFields(23.40, "merch-0007", "grocery", "NL", "pos", true)},
		{kind: schemas.Transaction, fields: txFields(31.90, "merch-0011", "restaurants", "NL", "pos", true)},
		{kind: schemas.Transaction, fields: groceries, say: "buys 24.50 EUR of groceries in a shop, as usual", role: "before"},
	}
	for i := 0; i < 6; i++ {
		s := storyStep{kind: schemas.Activity, fields: actFields("login_failed", "web-firefox", "NG", true)}
		if i == 5 {
			s.say = "fails to log in 6 times from NG, on a new device"
		}
		steps = append(steps, s)
	}
	return append(steps,
		storyStep{kind: schemas.Activity, fields: actFields("login", "web-firefox", "NG", true), say: "logs in from NG on that device"},
		storyStep{kind: schemas.Activity, fields: actFields("password_change", "web-firefox", "NG", true)},
		storyStep{kind: schemas.Transaction, fields: groceries, say: "buys the very same 24.50 EUR of groceries", role: "after"},
		storyStep{kind: schemas.Transaction, fields: txFields(389.00, "merch-0202", "electronics", "NL", "web", false), say: "orders 389.00 EUR of electronics online"},
	)
}

// teller produces the story and prints each step's prediction as the
// predictions topic delivers it.
type teller struct {
	mu    sync.Mutex
	out   io.Writer
	says  map[string]string // event id -> what to say about it
	roles map[string]string // event id -> before or after
	order []string
	next  int // the next step to print
	got   map[string]schemas.Prediction
	// Before and After are the fraud scores of the same purchase before
	// and after the failed logins (NaN until known).
	Before, After float64
	sent          atomic.Int64 // story events the broker acknowledged
}

func newTeller(out io.Writer) *teller {
	return &teller{out: out, says: map[string]string{}, roles: map[string]string{}, got: map[string]schemas.Prediction{},
		Before: math.NaN(), After: math.NaN()}
}

// scores returns Before and After.
func (t *teller) scores() (before, after float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.Before, t.After
}

// tell produces the story's events, gap apart, to the demo's topics.
func (t *teller) tell(ctx context.Context, cl *kgo.Client, enc schemas.Encoding, gap time.Duration) error {
	encs := map[schemas.EventType]schemas.EventEncoder{}
	for _, k := range []schemas.EventType{schemas.Transaction, schemas.Activity} {
		e, err := schemas.NewEventEncoder(enc, k, schemas.DefaultFieldNames)
		if err != nil {
			return err
		}
		encs[k] = e
	}
	topics := map[schemas.EventType]string{schemas.Transaction: "transactions", schemas.Activity: "activity"}
	t.mu.Lock()
	fmt.Fprintf(t.out, "story: %s, a customer whose account is taken over, starts now (its scores appear as they arrive)\n", StoryCustomer)
	t.mu.Unlock()
	for i, s := range story() {
		if i > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(gap):
			}
		}
		id := fmt.Sprintf("story-%d-%02d", time.Now().UnixMilli(), i)
		ev := &schemas.Event{Fields: append([]schemas.Field{{Name: "event_id", Value: schemas.StringValue(id)},
			{Name: "customer_id", Value: schemas.StringValue(StoryCustomer)},
			{Name: "event_time", Value: schemas.NumberValue(float64(time.Now().UnixMilli()))}}, s.fields...)}
		val, err := encs[s.kind].Append(nil, ev)
		if err != nil {
			return err
		}
		if s.say != "" {
			t.mu.Lock()
			t.says[id], t.roles[id] = s.say, s.role
			t.order = append(t.order, id)
			t.mu.Unlock()
		}
		cl.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: topics[s.kind], Key: []byte(StoryCustomer), Value: val},
			func(_ *kgo.Record, err error) {
				if err == nil {
					t.sent.Add(1)
				}
			})
	}
	return nil
}

// seen takes a prediction from the predictions topic.
func (t *teller) seen(p schemas.Prediction) {
	if p.EntityID != StoryCustomer {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got[p.EventID] = p
	for t.next < len(t.order) {
		id := t.order[t.next]
		q, ok := t.got[id]
		if !ok {
			return
		}
		fmt.Fprintf(t.out, "story: %s %-48s -> %-8s score %.4f (%s)\n", StoryCustomer, t.says[id], q.ModelName, q.Score, q.RiskSegment)
		t.next++
		switch t.roles[id] {
		case "before":
			t.Before = q.Score
		case "after":
			t.After = q.Score
			fmt.Fprintf(t.out, "story: the same purchase scored %.4f before the failed logins and %.4f after: the fraud model reads the customer's\n"+
				"       history in both topics (failed logins in the last hour, new-device logins, seconds since the login, usual spend)\n", t.Before, t.After)
		}
	}
}

// Write serialises the report's lines with the story's.
func (t *teller) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.Write(b)
}
