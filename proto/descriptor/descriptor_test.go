package descriptor_test

import (
	"strings"
	"testing"

	_ "google.golang.org/genproto/googleapis/rpc/errdetails" // linked by every server, as by host/transport/grpc
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/fusionize/fusionize/proto/descriptor"
	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

func TestEmbeddedFilesCarryCommentsTheGoCodeDropped(t *testing.T) {
	r, err := descriptor.Files()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.FindDescriptorByName("fusionize.v1.HostService")
	if err != nil {
		t.Fatal(err)
	}
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if !strings.Contains(loc.LeadingComments, "HostService is served by every host") {
		t.Fatalf("HostService comment from the embedded set: %q", loc.LeadingComments)
	}
	// The compiled-in descriptor has none: the reason the package exists.
	gd, err := protoregistry.GlobalFiles.FindDescriptorByName("fusionize.v1.HostService")
	if err != nil {
		t.Fatal(err)
	}
	if c := gd.ParentFile().SourceLocations().ByDescriptor(gd).LeadingComments; c != "" {
		t.Logf("the generated Go code keeps comments now (%q): the embedded set may be dropped", c)
	}
}

// The embedded set must describe the same API as the generated Go code;
// check-generate keeps both current, this catches one regenerated alone.
func TestEmbeddedFilesMatchTheGeneratedCode(t *testing.T) {
	r, err := descriptor.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range []protoreflect.FileDescriptor{
		fusionizev1.File_fusionize_v1_host_proto,
		fusionizev1.File_fusionize_v1_controlplane_proto,
		fusionizev1.File_fusionize_v1_types_proto,
	} {
		own, err := r.FindFileByPath(fd.Path())
		if err != nil {
			t.Fatal(err)
		}
		if own == fd {
			t.Fatalf("%s: resolved to the compiled-in descriptor, not the embedded one", fd.Path())
		}
		if a, b := names(own), names(fd); a != b {
			t.Errorf("%s: embedded set declares\n%s\ngenerated code declares\n%s\nrun make generate", fd.Path(), a, b)
		}
	}
	if _, err := r.FindDescriptorByName("google.rpc.ErrorInfo"); err != nil {
		t.Fatalf("error details must resolve through the global registry: %v", err)
	}
}

// names lists the messages with their fields and the services with their
// methods of fd.
func names(fd protoreflect.FileDescriptor) string {
	var b strings.Builder
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			m := ms.Get(i)
			b.WriteString(string(m.FullName()) + ":")
			for j := range m.Fields().Len() {
				f := m.Fields().Get(j)
				b.WriteString(" " + string(f.Name()) + "=" + f.Kind().String())
			}
			b.WriteString("\n")
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	for i := range fd.Services().Len() {
		s := fd.Services().Get(i)
		for j := range s.Methods().Len() {
			b.WriteString(string(s.Methods().Get(j).FullName()) + "\n")
		}
	}
	return b.String()
}
