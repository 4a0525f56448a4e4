// Package chat is the vocabulary the parts of promptev-bridge speak: conversation
// keys, users, inbound messages, button actions, rendered messages and their
// refs, a platform's limits, and the ports between the engine and the outside
// world (Platform and its optional abilities, Handler, Adapter, Store).
//
// A button press is an Action: its ActionKind says what the button does
// (approve, deny) and its Target is the opaque id the button carried.
// Adapters encode both in their native button ids and decode them back, so
// a button keeps working across restarts; the engine dispatches actions to
// the handler registered for their kind.
//
// It holds no logic beyond small helpers every adapter shares (text
// truncation, reconnect backoff). Adapters and stores import it, and so does
// the engine (package bridge); it imports none of them.
package chat
