// Package chat is the vocabulary the parts of promptev-bridge speak: conversation
// keys, users, inbound messages, button actions, rendered messages and their
// refs, a platform's limits, and the ports between the engine and the outside
// world (Platform and its optional abilities, Handler, Adapter, Store).
//
// It holds no logic beyond small helpers every adapter shares (text
// truncation, reconnect backoff). Adapters and stores import it, and so does
// the engine (package bridge); it imports none of them.
package chat
