package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsRedactedInLogs logs credentials and users, as values and
// pointers, through both handlers ipsd offers: the password and the hash
// never appear, the user name does.
func TestSecretsRedactedInLogs(t *testing.T) {
	const pw, hash = "pw-Sekrit-1", "$2a$04$sekritsekritsekritsekriuQ1f0Wk0rZ7cQKzjG0m6y2c4F5e3nO"
	cred := Credentials{Present: true, User: "u@example.com", Password: pw}
	user := UserConfig{Email: "u@example.com", PasswordHash: hash}
	for _, format := range []string{"text", "json"} {
		var b bytes.Buffer
		var h slog.Handler = slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})
		if format == "json" {
			h = slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})
		}
		log := slog.New(h)
		log.Debug("x", "cred", cred, "credp", &cred, "user", user, "userp", &user)
		log.With("cred", cred, "user", &user).Info("y")
		out := b.String()
		if strings.Contains(out, pw) || strings.Contains(out, hash) || strings.Contains(out, "$2a$") {
			t.Errorf("%s log holds a secret:\n%s", format, out)
		}
		if strings.Count(out, "u@example.com") != 6 {
			t.Errorf("%s log: want the user name six times:\n%s", format, out)
		}
	}
}
