package server

import (
	"context"
	"fmt"

	fusionizev1 "github.com/fusionize/fusionize/proto/fusionize/v1"
)

// GetValue reads a key of an application's key-value store.
func (s *Server) GetValue(ctx context.Context, req *fusionizev1.GetValueRequest) (*fusionizev1.GetValueResponse, error) {
	val, ok, err := s.st.GetValue(req.GetApp(), req.GetKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.GetValueResponse{Found: ok, Value: val}, nil
}

// PutValue writes a key of an application's key-value store and answers
// once the write is committed.
func (s *Server) PutValue(ctx context.Context, req *fusionizev1.PutValueRequest) (*fusionizev1.PutValueResponse, error) {
	if err := s.st.PutValue(req.GetApp(), req.GetKey(), req.GetValue()); err != nil {
		return nil, toStatus(err)
	}
	return &fusionizev1.PutValueResponse{}, nil
}

// DeregisterHost removes a stopping host from the registry, if it is still
// registered at the address it names.
func (s *Server) DeregisterHost(ctx context.Context, req *fusionizev1.DeregisterHostRequest) (*fusionizev1.DeregisterHostResponse, error) {
	if req.GetName() == "" {
		return nil, toStatus(fmt.Errorf("%w: deregister host: no name", ErrBadRequest))
	}
	return &fusionizev1.DeregisterHostResponse{Removed: s.st.ForgetHostAt(req.GetName(), req.GetAddress())}, nil
}
