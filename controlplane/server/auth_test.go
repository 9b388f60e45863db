package server_test

import (
	"testing"

	"github.com/fusionize/fusionize/controlplane/client"
	"github.com/fusionize/fusionize/controlplane/store"
)

func TestClientLooksForTheTokenWhereTheStoreWritesIt(t *testing.T) {
	if store.TokenFile != client.TokenFile {
		t.Fatalf("store writes %q, client reads %q", store.TokenFile, client.TokenFile)
	}
}
