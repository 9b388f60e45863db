// Package descriptor serves the fusionize.v1 schema over gRPC server
// reflection with its comments. protoc-gen-go compiles descriptors into the
// Go code without their source info, so reflection from the global registry
// would show grpcurl every message and method but not one comment. This
// package embeds the descriptor set `make generate` builds from proto/ with
// buf (fusionize.binpb: the fusionize/v1 files with source info, imports
// excluded) and answers reflection from it, falling back to the global
// registry for everything else (well-known types, google.rpc.ErrorInfo and
// the other error details, grpc.health.v1).
//
//	s := grpc.NewServer()
//	fusionizev1.RegisterHostServiceServer(s, srv)
//	if err := descriptor.RegisterReflection(s); err != nil { ... }
//
// Then `grpcurl -plaintext 127.0.0.1:9001 describe fusionize.v1.HostService`
// prints the service with the comments of host.proto.
package descriptor

import (
	_ "embed"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/reflection"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// fileSet is `buf build proto --exclude-imports --as-file-descriptor-set`
// (see the Makefile's generate target); check-generate keeps it current.
//
//go:embed fusionize.binpb
var fileSet []byte

var (
	filesOnce sync.Once
	files     *Resolver
	filesErr  error
)

// Files returns the resolver of the fusionize/v1 files with their comments,
// built once from the embedded descriptor set.
func Files() (*Resolver, error) {
	filesOnce.Do(func() { files, filesErr = newResolver(fileSet) })
	return files, filesErr
}

// Resolver finds files and descriptors in the fusionize/v1 files first (with
// source info, so comments) and in protoregistry.GlobalFiles after them. It
// implements protodesc.Resolver.
type Resolver struct {
	own *protoregistry.Files
}

var _ protodesc.Resolver = (*Resolver)(nil)

// FindFileByPath implements protodesc.Resolver.
func (r *Resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := r.own.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

// FindDescriptorByName implements protodesc.Resolver.
func (r *Resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.own.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

func newResolver(data []byte) (*Resolver, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("descriptor: embedded fusionize.binpb: %w", err)
	}
	if len(set.GetFile()) == 0 {
		return nil, errors.New("descriptor: embedded fusionize.binpb holds no files: run make generate")
	}
	r := &Resolver{own: new(protoregistry.Files)}
	// buf writes files in dependency order, so each file's imports are in
	// r (fusionize/v1) or the global registry (well-known types) already.
	for _, fdp := range set.GetFile() {
		fd, err := protodesc.NewFile(fdp, r)
		if err != nil {
			return nil, fmt.Errorf("descriptor: %s: %w", fdp.GetName(), err)
		}
		if err := r.own.RegisterFile(fd); err != nil {
			return nil, fmt.Errorf("descriptor: %s: %w", fdp.GetName(), err)
		}
	}
	return r, nil
}

// RegisterReflection registers gRPC server reflection (v1 and v1alpha) on
// s, answering from Files. Register every service before serving; the
// reflection service lists what s has registered when asked.
func RegisterReflection(s reflection.GRPCServer) error {
	r, err := Files()
	if err != nil {
		return err
	}
	opts := reflection.ServerOptions{Services: s, DescriptorResolver: r}
	reflectionv1.RegisterServerReflectionServer(s, reflection.NewServerV1(opts))
	reflectionv1alpha.RegisterServerReflectionServer(s, reflection.NewServer(opts))
	return nil
}
