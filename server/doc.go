// Package server will hold the Fiber app: middleware, one sub-folder per
// API family with its own request, response and error envelopes, the
// console's embedded assets and the OpenAPI document. It translates
// requests into planner calls and never builds SQL. (Issue 3 builds it.)
package server
