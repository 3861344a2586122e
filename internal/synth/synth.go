// Package synth generates synthetic transaction and activity events with a
// known ground truth, for the load generator, the demo, the bundled model's
// training data and tests.
//
// Customers have a home country, a typical spend, a usual channel and
// device. About 2% of transactions are fraud and look different in ways a
// model can learn but not perfectly: higher amounts, card-not-present web
// or app payments, risky merchant categories (electronics, gift cards,
// crypto), foreign and high-risk countries, night hours. Legitimate
// transactions share each of these traits sometimes, so no single rule
// separates the classes. Activity events (logins, password and e-mail
// changes, new payees) carry an account-takeover pattern: new devices,
// foreign IP countries, changes of credentials.
package synth

import (
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
	names     schemas.FieldNames
	customers []customer
	merchants []merchant
	run       string
	seq       int64
	// FraudRate is the share of fraudulent transactions (default 0.02);
	// TakeoverRate the share of account-takeover activity (default 0.03).
	FraudRate, TakeoverRate float64
	// Live makes every event happen at the time it is given, as a stream's
	// events happen now: Transaction then keeps the time instead of
	// drawing a plausible hour of its day (which put live events up to a
	// day in the future). The fraud traits other than the hour are the
	// same. Training data leaves it off, so that fraud is likelier at
	// night, a trait the bundled model learned.
	Live bool
}

// New returns a generator with the given number of customers.
func New(seed uint64, customers int, names schemas.FieldNames) *Generator {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	g := &Generator{rng: rng, names: names, run: fmt.Sprintf("%06x", rng.Uint32()&0xffffff), FraudRate: 0.02, TakeoverRate: 0.03}
	for i := 0; i < max(customers, 1); i++ {
		ch := "pos"
		switch r := rng.Float64(); {
		case r < 0.25:
			ch = "web"
		case r < 0.45:
			ch = "app"
		}
		g.customers = append(g.customers, customer{
			id:      fmt.Sprintf("cust-%06d", i),
			home:    homeCountries[rng.IntN(len(homeCountries))],
			spend:   math.Exp(3 + rng.NormFloat64()*0.6), // median ~20, long tail
			channel: ch,
			device:  devices[rng.IntN(len(devices))],
		})
	}
	for i := 0; i < 500; i++ {
		g.merchants = append(g.merchants, merchant{id: fmt.Sprintf("merch-%04d", i), category: categories[rng.IntN(len(categories))]})
	}
	return g
}

func (g *Generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) chance(p float64) bool { return g.rng.Float64() < p }

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

// Transaction fills ev with a transaction and reports whether it is fraud.
// The event happens at at when the generator is Live; otherwise on the day
// of at, at a plausible hour drawn for it (night hours likelier for fraud).
func (g *Generator) Transaction(ev *schemas.Event, at time.Time) (fraud bool) {
	c := &g.customers[g.rng.IntN(len(g.customers))]
	fraud = g.chance(g.FraudRate)
	hour := g.legitHour()
	if fraud && g.chance(0.55) {
		hour = g.rng.IntN(6) // 00–05 UTC
	}
	minute, sec := g.rng.IntN(60), g.rng.IntN(60) // drawn either way: the stream of draws stays the same
	if !g.Live {
		at = time.Date(at.Year(), at.Month(), at.Day(), hour, minute, sec, 0, time.UTC)
	}
	g.start(ev, "tx", c, at)

	amount := c.spend * math.Exp(g.rng.NormFloat64()*0.5)
	channel, cardPresent := c.channel, c.channel == "pos"
	country := c.home
	m := g.merchants[g.rng.IntN(len(g.merchants))]
	category := m.category
	if fraud {
		amount *= 3 + g.rng.Float64()*12
		if g.chance(0.8) {
			channel, cardPresent = g.pick([]string{"web", "app"}), false
		}
		if g.chance(0.6) {
			category = g.pick(riskyCats)
		}
		switch r := g.rng.Float64(); {
		case r < 0.5:
			country = g.pick(riskyCountries)
		case r < 0.75:
			country = g.pick(homeCountries)
		}
	} else {
		if g.chance(0.04) {
			country = g.pick(homeCountries) // travel
		}
		if g.chance(0.005) {
			country = g.pick(riskyCountries)
		}
		if g.chance(0.1) {
			channel, cardPresent = "web", false
		}
		if g.chance(0.03) {
			amount *= 4 + g.rng.Float64()*6 // big legitimate purchase
		}
	}
	cur := currencies[country]
	if cur == "" {
		cur = "EUR"
	}
	ev.Fields = append(ev.Fields,
		schemas.Field{Name: "amount", Value: schemas.NumberValue(math.Round(amount*100) / 100)},
		str("currency", cur), str("merchant", m.id), str("merchant_category", category),
		str("country", country), str("channel", channel),
		schemas.Field{Name: "card_present", Value: schemas.BoolValue(cardPresent)},
	)
	return fraud
}

// legitHour draws an hour weighted to the day (most activity 08–22 UTC).
func (g *Generator) legitHour() int {
	if g.chance(0.08) {
		return g.rng.IntN(24)
	}
	return 8 + g.rng.IntN(15)
}

// Activity fills ev with an account activity event and reports whether it
// belongs to an account takeover.
func (g *Generator) Activity(ev *schemas.Event, at time.Time) (takeover bool) {
	c := &g.customers[g.rng.IntN(len(g.customers))]
	takeover = g.chance(g.TakeoverRate)
	g.start(ev, "act", c, at)
	kind, device, ipCountry, newDevice := "login", c.device, c.home, false
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
		device, newDevice = g.pick(devices), true
	}
	if takeover {
		kind = g.pick([]string{"login", "login_failed", "login_failed", "password_change", "email_change", "add_payee"})
		if g.chance(0.8) {
			device, newDevice = g.pick(devices), true
		}
		if g.chance(0.6) {
			ipCountry = g.pick(riskyCountries)
		}
	} else if g.chance(0.03) {
		ipCountry = g.pick(homeCountries)
	}
	ev.Fields = append(ev.Fields, str("activity_type", kind), str("device", device), str("ip_country", ipCountry),
		schemas.Field{Name: "new_device", Value: schemas.BoolValue(newDevice)})
	return takeover
}

// Float64 draws a uniform number in [0, 1) from the generator's stream.
func (g *Generator) Float64() float64 { return g.rng.Float64() }
