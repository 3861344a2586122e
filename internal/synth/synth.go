package synth

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/streamscore/streamscore/schemas"
)

var (
	homeCountries  = []string{"US", "GB", "DE", "FR", "NL", "ES", "IT", "SE"}
	riskyCountries = []string{"BR", "NG", "RO", "VN"}
	categories     = []string{"grocery", "restaurants", "fuel", "fashion", "travel", "pharmacy", "electronics", "gift_cards", "crypto"}
	riskyCats      = []string{"electronics", "gift_cards", "crypto"}
	devices        = []string{"ios", "android", "web-chrome", "web-firefox", "web-safari"}
	currencies     = map[string]string{"US": "USD", "GB": "GBP", "SE": "SEK"}
	credChanges    = []string{"password_change", "email_change", "add_payee"}
)

type customer struct {
	id      string
	home    string
	spend   float64 // median amount
	channel string
	device  string
}

type merchant struct {
	id       string
	category string
}

// Generator makes events. It is deterministic for a seed and not safe for
// concurrent use.
type Generator struct {
	rng       *rand.Rand
	seed      uint64
	names     schemas.FieldNames
	customers int
	merchants []merchant
	run       string
	seq       int64
	pending   steps // scheduled steps of stories, earliest first
	stepSeq   int64

	// FraudRate is the share of fraudulent transactions Transaction makes
	// (default 0.02); TakeoverRate the share of account-takeover activity
	// Activity makes (default 0.03).
	FraudRate, TakeoverRate float64
	// Live makes every event happen at the time it is given, as a stream's
	// events happen now: Transaction then keeps the time instead of
	// drawing a plausible hour of its day (which put live events up to a
	// day in the future). The fraud traits other than the hour are the
	// same. Training data leaves it off, so that fraud is likelier at
	// night, a trait the bundled model learned.
	Live bool
	// ActivityShare is the share of Next's background events that are
	// activity (default 0.3). AttackRate is the chance that a background
	// event starts an account takeover of a random customer (default
	// 0.004, three times that at night), CardFraudRate the chance that a
	// background transaction is stolen-card fraud (default 0.0045), and
	// ForgetRate the chance that a background activity is a customer who
	// forgot the password (default 0.01). DisputeRate is the label noise:
	// the chance that an ordinary transaction is labelled fraud anyway (a
	// customer disputing their own purchase; default 0.002).
	ActivityShare, AttackRate, CardFraudRate, ForgetRate, DisputeRate float64
}

// New returns a generator with the given number of customers (their
// traits are derived from the seed and their number, so any number costs
// no memory).
func New(seed uint64, customers int, names schemas.FieldNames) *Generator {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	g := &Generator{rng: rng, seed: seed, names: names, customers: max(customers, 1), run: fmt.Sprintf("%06x", rng.Uint32()&0xffffff),
		FraudRate: 0.02, TakeoverRate: 0.03, ActivityShare: 0.3, AttackRate: 0.004, CardFraudRate: 0.0045, ForgetRate: 0.01,
		DisputeRate: 0.002}
	for i := 0; i < 500; i++ {
		g.merchants = append(g.merchants, merchant{id: fmt.Sprintf("merch-%04d", i), category: categories[rng.IntN(len(categories))]})
	}
	return g
}

// customer i's traits, the same for every call.
func (g *Generator) customer(i int) customer {
	r := rand.New(rand.NewPCG(g.seed^0xc0ffee, uint64(i)))
	ch := "pos"
	switch x := r.Float64(); {
	case x < 0.25:
		ch = "web"
	case x < 0.45:
		ch = "app"
	}
	return customer{
		id:      CustomerID(i),
		home:    homeCountries[r.IntN(len(homeCountries))],
		spend:   math.Exp(3 + r.NormFloat64()*0.6), // median ~20, long tail
		channel: ch,
		device:  devices[r.IntN(len(devices))],
	}
}

// CustomerID is the id of customer i.
func CustomerID(i int) string { return fmt.Sprintf("cust-%06d", i) }

func (g *Generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

// between draws a duration uniformly in [lo, hi), in whole milliseconds.
func (g *Generator) between(lo, hi time.Duration) time.Duration {
	return (lo + time.Duration(g.rng.Int64N(int64(hi-lo)))).Truncate(time.Millisecond)
}

func (g *Generator) start(ev *schemas.Event, kind string, c *customer, at time.Time) {
	ev.Reset()
	g.seq++
	ev.Fields = append(ev.Fields,
		schemas.Field{Name: g.names.ID, Value: schemas.StringValue(fmt.Sprintf("%s-%s-%d", kind, g.run, g.seq))},
		schemas.Field{Name: g.names.Entity, Value: schemas.StringValue(c.id)},
		schemas.Field{Name: g.names.Time, Value: schemas.NumberValue(float64(at.UnixMilli()))},
	)
}

func str(name, v string) schemas.Field {
	return schemas.Field{Name: name, Value: schemas.StringValue(v)}
}

// tx is what a transaction looks like.
type tx struct {
	amount             float64
	channel, country   string
	category, merchant string
	cardPresent        bool
}

// legitTx is an ordinary purchase of c.
func (g *Generator) legitTx(c *customer) tx {
	m := g.merchants[g.rng.IntN(len(g.merchants))]
	t := tx{amount: c.spend * math.Exp(g.rng.NormFloat64()*0.5), channel: c.channel, cardPresent: c.channel == "pos",
		country: c.home, category: m.category, merchant: m.id}
	if g.chance(0.04) {
		t.country = g.pick(homeCountries) // travel
	}
	if g.chance(0.005) {
		t.country = g.pick(riskyCountries)
	}
	if g.chance(0.1) {
		t.channel, t.cardPresent = "web", false
	}
	if g.chance(0.03) {
		t.amount *= 4 + g.rng.Float64()*6 // big legitimate purchase
	}
	return t
}

// cardFraudTx is stolen-card fraud: the traits are in the event itself.
func (g *Generator) cardFraudTx(c *customer) tx {
	t := g.legitTx(c)
	t.amount = c.spend * math.Exp(g.rng.NormFloat64()*0.5) * (3 + g.rng.Float64()*12)
	if g.chance(0.8) {
		t.channel, t.cardPresent = g.pick([]string{"web", "app"}), false
	}
	if g.chance(0.6) {
		t.category = g.pick(riskyCats)
	}
	switch r := g.rng.Float64(); {
	case r < 0.5:
		t.country = g.pick(riskyCountries)
	case r < 0.75:
		t.country = g.pick(homeCountries)
	default:
		t.country = c.home
	}
	return t
}

// takeoverTx is a purchase by someone who took the account over: a spend
// spike, usually card-not-present; one in five looks like the customer's
// own purchase.
func (g *Generator) takeoverTx(c *customer, a *attack) tx {
	t := g.legitTx(c)
	if g.chance(0.2) {
		return t // only the history gives it away
	}
	t.amount = c.spend * math.Exp(g.rng.NormFloat64()*0.4) * (2 + g.rng.Float64()*8)
	if g.chance(0.85) {
		t.channel, t.cardPresent = g.pick([]string{"web", "app"}), false
	}
	if g.chance(0.45) {
		t.category = g.pick(riskyCats)
	}
	switch r := g.rng.Float64(); {
	case r < 0.3:
		t.country = a.ip
	case r < 0.45:
		t.country = g.pick(homeCountries)
	default:
		t.country = c.home
	}
	return t
}

func (g *Generator) writeTx(ev *schemas.Event, c *customer, at time.Time, t tx) {
	g.start(ev, "tx", c, at)
	cur := currencies[t.country]
	if cur == "" {
		cur = "EUR"
	}
	ev.Fields = append(ev.Fields,
		schemas.Field{Name: "amount", Value: schemas.NumberValue(math.Round(t.amount*100) / 100)},
		str("currency", cur), str("merchant", t.merchant), str("merchant_category", t.category),
		str("country", t.country), str("channel", t.channel),
		schemas.Field{Name: "card_present", Value: schemas.BoolValue(t.cardPresent)},
	)
}

func (g *Generator) writeActivity(ev *schemas.Event, c *customer, at time.Time, kind, device, ipCountry string, newDevice bool) {
	g.start(ev, "act", c, at)
	ev.Fields = append(ev.Fields, str("activity_type", kind), str("device", device), str("ip_country", ipCountry),
		schemas.Field{Name: "new_device", Value: schemas.BoolValue(newDevice)})
}

// Transaction fills ev with an independent transaction (no history) of a
// random customer and reports whether it is fraud. The event happens at
// at when the generator is Live; otherwise on the day of at, at a
// plausible hour drawn for it (fraud more often at night).
func (g *Generator) Transaction(ev *schemas.Event, at time.Time) (fraud bool) {
	c := g.customer(g.rng.IntN(g.customers))
	fraud = g.chance(g.FraudRate)
	hour := g.legitHour()
	if fraud && g.chance(0.55) {
		hour = g.rng.IntN(6) // 00–05 UTC
	}
	minute, sec := g.rng.IntN(60), g.rng.IntN(60) // drawn either way: the stream of draws stays the same
	if !g.Live {
		at = time.Date(at.Year(), at.Month(), at.Day(), hour, minute, sec, 0, time.UTC)
	}
	t := g.legitTx(&c)
	if fraud {
		t = g.cardFraudTx(&c)
	}
	g.writeTx(ev, &c, at, t)
	return fraud
}

// legitHour draws an hour weighted to the day (most activity 08–22 UTC).
func (g *Generator) legitHour() int {
	if g.chance(0.08) {
		return g.rng.IntN(24)
	}
	return 8 + g.rng.IntN(15)
}

// legitActivity is an ordinary activity event of c.
func (g *Generator) legitActivity(c *customer) (kind, device, ip string, newDevice bool) {
	kind, device, ip = "login", c.device, c.home
	switch r := g.rng.Float64(); {
	case r < 0.08:
		kind = "login_failed"
	case r < 0.1:
		kind = "password_change"
	case r < 0.11:
		kind = "email_change"
	case r < 0.12:
		kind = "add_payee"
	}
	if g.chance(0.05) {
		device, newDevice = g.pick(devices), true // a new phone
	}
	if g.chance(0.03) {
		ip = g.pick(homeCountries) // travel
	}
	return kind, device, ip, newDevice
}

// Activity fills ev with an independent account activity event (no
// history) of a random customer and reports whether it belongs to an
// account takeover.
func (g *Generator) Activity(ev *schemas.Event, at time.Time) (takeover bool) {
	c := g.customer(g.rng.IntN(g.customers))
	takeover = g.chance(g.TakeoverRate)
	kind, device, ip, newDevice := g.legitActivity(&c)
	if takeover {
		a := g.newAttack(&c)
		kind = g.pick([]string{"login", "login_failed", "login_failed", "password_change", "email_change", "add_payee"})
		device, ip, newDevice = a.device, a.ip, a.newDevice
	}
	g.writeActivity(ev, &c, at, kind, device, ip, newDevice)
	return takeover
}

// Float64 draws a uniform number in [0, 1) from the generator's stream.
func (g *Generator) Float64() float64 { return g.rng.Float64() }

// attack is who is taking an account over: their device and IP country.
type attack struct {
	device, ip string
	newDevice  bool
}

func (g *Generator) newAttack(c *customer) *attack {
	a := &attack{device: c.device, ip: c.home}
	if g.chance(0.8) {
		a.device, a.newDevice = g.pick(devices), true
	}
	switch r := g.rng.Float64(); {
	case r < 0.55:
		a.ip = g.pick(riskyCountries)
	case r < 0.85:
		a.ip = g.pick(homeCountries)
	}
	return a
}

// stepKind is what a scheduled step of a story emits.
type stepKind uint8

const (
	stepFailedLogin stepKind = iota // an attacker's failed login
	stepLogin                       // the attacker gets in
	stepCredChange                  // the attacker changes a credential
	stepTakeoverTx                  // the attacker spends
	stepCardFraudTx                 // another charge on a stolen card
	stepForgotFail                  // the customer mistypes the password
	stepForgotReset                 // …and resets it
	stepForgotLogin                 // …and logs in
)

// step is one scheduled event of a customer's story.
type step struct {
	at   time.Time
	n    int64 // schedule order, for ties
	cust int
	kind stepKind
	a    *attack
}

type steps []step

func (s steps) Len() int { return len(s) }
func (s steps) Less(i, j int) bool {
	if !s[i].at.Equal(s[j].at) {
		return s[i].at.Before(s[j].at)
	}
	return s[i].n < s[j].n
}
func (s steps) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s *steps) Push(x any)   { *s = append(*s, x.(step)) }
func (s *steps) Pop() any {
	old := *s
	x := old[len(old)-1]
	*s = old[:len(old)-1]
	return x
}

func (g *Generator) schedule(at time.Time, cust int, kind stepKind, a *attack) {
	g.stepSeq++
	heap.Push(&g.pending, step{at: at, n: g.stepSeq, cust: cust, kind: kind, a: a})
}

// night reports whether at is 00–05 UTC.
func night(at time.Time) bool { return at.UTC().Hour() < 6 }

// startAttack starts an account takeover of customer i at time at: it
// returns the first failed login and schedules the others, and in three
// of four cases the login, maybe a credential change, and the spend spike.
func (g *Generator) startAttack(i int, at time.Time) step {
	c := g.customer(i)
	a := g.newAttack(&c)
	first := step{at: at, cust: i, kind: stepFailedLogin, a: a}
	t := at
	for k := 2 + g.rng.IntN(7); k > 0; k-- {
		t = t.Add(g.between(3*time.Second, 40*time.Second))
		g.schedule(t, i, stepFailedLogin, a)
	}
	if !g.chance(0.75) {
		return first // locked out
	}
	t = t.Add(g.between(20*time.Second, 5*time.Minute))
	g.schedule(t, i, stepLogin, a)
	if g.chance(0.4) {
		g.schedule(t.Add(g.between(30*time.Second, 10*time.Minute)), i, stepCredChange, a)
	}
	t = t.Add(g.between(time.Minute, 40*time.Minute))
	for k := 1 + g.rng.IntN(5); k > 0; k-- {
		g.schedule(t, i, stepTakeoverTx, a)
		t = t.Add(g.between(30*time.Second, 10*time.Minute))
	}
	return first
}

// startForgot starts a customer i who forgot the password at time at: it
// returns the first failed login on their own device and schedules the
// others, often a reset, then a login.
func (g *Generator) startForgot(i int, at time.Time) step {
	first := step{at: at, cust: i, kind: stepForgotFail}
	t := at
	for k := 1 + g.rng.IntN(4); k > 0; k-- {
		t = t.Add(g.between(5*time.Second, 40*time.Second))
		g.schedule(t, i, stepForgotFail, nil)
	}
	if g.chance(0.6) {
		t = t.Add(g.between(30*time.Second, 3*time.Minute))
		g.schedule(t, i, stepForgotReset, nil)
	}
	g.schedule(t.Add(g.between(10*time.Second, 2*time.Minute)), i, stepForgotLogin, nil)
	return first
}

// emit fills ev with a scheduled step at time at.
func (g *Generator) emit(ev *schemas.Event, s step, at time.Time) (schemas.EventType, bool) {
	c := g.customer(s.cust)
	switch s.kind {
	case stepFailedLogin:
		g.writeActivity(ev, &c, at, "login_failed", s.a.device, s.a.ip, s.a.newDevice)
		return schemas.Activity, true
	case stepLogin:
		g.writeActivity(ev, &c, at, "login", s.a.device, s.a.ip, s.a.newDevice)
		return schemas.Activity, true
	case stepCredChange:
		g.writeActivity(ev, &c, at, g.pick(credChanges), s.a.device, s.a.ip, s.a.newDevice)
		return schemas.Activity, true
	case stepTakeoverTx:
		g.writeTx(ev, &c, at, g.takeoverTx(&c, s.a))
		return schemas.Transaction, true
	case stepCardFraudTx:
		g.writeTx(ev, &c, at, g.cardFraudTx(&c))
		return schemas.Transaction, true
	case stepForgotFail:
		g.writeActivity(ev, &c, at, "login_failed", c.device, c.home, false)
	case stepForgotReset:
		g.writeActivity(ev, &c, at, "password_change", c.device, c.home, false)
	default:
		g.writeActivity(ev, &c, at, "login", c.device, c.home, false)
	}
	return schemas.Activity, false
}

// background fills ev with an event of a random customer at time at that
// belongs to no story yet: an ordinary event, or the first of a story
// (which schedules the rest).
func (g *Generator) background(ev *schemas.Event, at time.Time) (schemas.EventType, bool) {
	attack := g.AttackRate
	if night(at) {
		attack *= 3
	}
	if g.chance(attack) {
		return g.emit(ev, g.startAttack(g.rng.IntN(g.customers), at), at)
	}
	i := g.rng.IntN(g.customers)
	c := g.customer(i)
	if g.chance(g.ActivityShare) {
		if g.chance(g.ForgetRate) {
			return g.emit(ev, g.startForgot(i, at), at)
		}
		kind, device, ip, newDevice := g.legitActivity(&c)
		g.writeActivity(ev, &c, at, kind, device, ip, newDevice)
		return schemas.Activity, false
	}
	card := g.CardFraudRate
	if night(at) {
		card *= 2
	}
	if g.chance(card) {
		g.writeTx(ev, &c, at, g.cardFraudTx(&c))
		for k := g.rng.IntN(5) - 2; k > 0; k-- { // two in five: another one or two
			g.schedule(at.Add(g.between(time.Minute, 20*time.Minute)), i, stepCardFraudTx, nil)
		}
		return schemas.Transaction, true
	}
	g.writeTx(ev, &c, at, g.legitTx(&c))
	return schemas.Transaction, g.chance(g.DisputeRate)
}

// Next fills ev with the next event of the generator's stream at time at
// (the live stream: at is now) and reports its kind and ground truth
// (fraud for a transaction, takeover for an activity event): a step of a
// customer's story that is due by at, else a background event. A due step
// takes time at, so the stream's event times never go back.
func (g *Generator) Next(ev *schemas.Event, at time.Time) (schemas.EventType, bool) {
	if len(g.pending) > 0 && !g.pending[0].at.After(at) {
		return g.emit(ev, heap.Pop(&g.pending).(step), at)
	}
	return g.background(ev, at)
}

// Log calls fn with n events of the generator's stream in event-time
// order from start: background events arrive at rate per second on
// average, four times as often by day (08–22 UTC) as by night; each
// story's steps come at their own times. Event times are whole
// milliseconds; ev is reused by the next call.
func (g *Generator) Log(n int, start time.Time, rate float64, fn func(ev *schemas.Event, kind schemas.EventType, positive bool) error) error {
	if rate <= 0 {
		return fmt.Errorf("synth: rate %v: want events per second > 0", rate)
	}
	var ev schemas.Event
	// Background arrivals are thinned from a Poisson process at the day's
	// rate: by night three in four are dropped. 15 day hours at weight 1
	// and 9 at 1/4 average to 0.71875 of the peak.
	peak := rate / (15.0/24 + 9.0/24/4)
	next := start.Truncate(time.Millisecond)
	advance := func() {
		for {
			next = next.Add(time.Duration(g.rng.ExpFloat64() / peak * float64(time.Second)).Truncate(time.Millisecond))
			if h := next.UTC().Hour(); h >= 8 && h <= 22 || g.chance(0.25) {
				return
			}
		}
	}
	advance()
	for i := 0; i < n; i++ {
		var kind schemas.EventType
		var positive bool
		if len(g.pending) > 0 && g.pending[0].at.Before(next) {
			s := heap.Pop(&g.pending).(step)
			kind, positive = g.emit(&ev, s, s.at)
		} else {
			kind, positive = g.background(&ev, next)
			advance()
		}
		if err := fn(&ev, kind, positive); err != nil {
			return err
		}
	}
	return nil
}
