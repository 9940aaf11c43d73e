package apiauth

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Creator creates API objects; a controller-runtime client is one.
type Creator interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

// ClientReviewer runs the reviews through the Kubernetes API. Its account
// needs create on tokenreviews (authentication.k8s.io) and
// subjectaccessreviews (authorization.k8s.io).
type ClientReviewer struct{ Client Creator }

var _ Reviewer = ClientReviewer{}

// ReviewToken implements Reviewer.
func (c ClientReviewer) ReviewToken(ctx context.Context, spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	tr := &authenticationv1.TokenReview{Spec: spec}
	if err := c.Client.Create(ctx, tr); err != nil {
		return authenticationv1.TokenReviewStatus{}, err
	}
	return tr.Status, nil
}

// ReviewAccess implements Reviewer.
func (c ClientReviewer) ReviewAccess(ctx context.Context, spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: spec}
	if err := c.Client.Create(ctx, sar); err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, err
	}
	return sar.Status, nil
}
