package fakeapi

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers status with body encoded as JSON, under contentType (each API's own, charset included where
// it sends one). A body that cannot be encoded is a bug in the fake named fake: it answers 500 saying so, never an
// answer the real API gives.
func WriteJSON(w http.ResponseWriter, fake string, status int, contentType string, body any) {
	raw, err := json.Marshal(body)
	if err != nil {
		http.Error(w, fake+": encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(raw)
}
