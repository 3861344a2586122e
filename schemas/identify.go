package schemas

// Identify takes the identity of an event whose fields were filled without
// a decoder (a row of a file): it sets Type to t and ID, Entity and Time
// from the fields names says, by the rules every decoder applies — an id
// or entity is a non-empty string or an integral number, the time is epoch
// milliseconds or RFC 3339 — and rewrites the time field as epoch
// milliseconds, as a decoded event has it. A field that is absent or
// unusable is an error wrapping ErrIdentity that names it. So a file's row
// and the same event read from a topic are the same Event.
func (e *Event) Identify(t EventType, names FieldNames) error {
	return finish(e, t, names)
}
