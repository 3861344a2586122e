// Package synth generates synthetic transaction and activity events with a
// known ground truth, for the load generator, the demo, the bundled models'
// training data and tests. It is deterministic for a seed.
//
// Customers have a home country, a typical spend, a usual channel and
// device. The generator's stream (Next, Log) is a time-ordered log of both
// kinds in which fraud is driven by history, so that aggregates over the
// customer's recent events carry signal that no single event does:
//
//   - Account takeover: a burst of failed logins (often from a new device
//     and a foreign or high-risk IP country), in three of four cases a
//     successful login on a new device, sometimes a credential change
//     (password, e-mail, a new payee), then a spend spike of one to five
//     transactions minutes later — all of them fraud, and one in five of
//     them an ordinary-looking purchase that only the history gives away.
//     Attacks start three times as often at night (00–05 UTC).
//   - Stolen card data: fraud with no account history, in the traits of
//     the event itself (high amounts, card-not-present web or app
//     payments, risky merchant categories, foreign and high-risk
//     countries), sometimes two or three in a row.
//   - Legitimate customers share each trait sometimes (travel, big
//     purchases, web shopping) and forget their passwords: bursts of failed
//     logins on their own device, a password change, then ordinary spending.
//
// About 2% of transactions are fraud, and 0.2% of ordinary ones are
// labelled fraud anyway (disputes: label noise). Activity events of a takeover are its
// positives (the account-takeover model's label). Transaction and Activity
// make single independent events instead (no history), as the earlier
// generator did.
package synth
