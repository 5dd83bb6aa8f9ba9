// Package casework is where the one-window case workflow will live: intake
// at the window verifying materials through the exchange, back-office
// review, working-day deadlines and public progress lookup. It is the
// exchange's primary consumer.
package casework
