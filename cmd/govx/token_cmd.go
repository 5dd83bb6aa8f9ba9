package main

import (
	"context"
	"flag"
	"fmt"
	"govx/adapters/population"
	"govx/catalog"
	"govx/internal/auth"
	"govx/node"
	"io"
	"strings"
	"time"
)

func runToken(_ context.Context, cfg node.Config, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "svc:service-center-window", "subject: who the token is for")
	dept := fs.String("dept", catalog.DeptServiceCenter, "department code of the caller")
	role := fs.String("role", "service", "role: service, clerk, citizen, …")
	scope := fs.String("scope", population.ResourceIdentity, "space- or comma-separated resource codes the token may query")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	data := fs.String("data", cfg.DataDir, "data folder holding the signing key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := node.LoadKey(*data)
	if err != nil {
		return err
	}
	tok, err := key.Mint(auth.TokenSpec{Issuer: node.Issuer, Audience: node.Audience, Subject: *sub, Dept: *dept, Role: *role,
		Scopes: strings.FieldsFunc(*scope, func(r rune) bool { return r == ' ' || r == ',' }), TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
