package daemon

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
)

// The IPS roles (ips-api.md §1.5).
var allRoles = []string{
	"IpsAdmin", "IpsCompanyAdmin", "IpsUser", "WebServiceUser",
	"TrialSiteAdmin", "TrialSiteUser",
	"ImagePortalAdmin", "ImagePortalUser", "ImagePortalContrib", "ImagePortalContribUser",
}

// copyRoles may call copyImage (decisions.md §5); no other role may.
var copyRoles = []string{
	"IpsUser", "IpsAdmin", "IpsCompanyAdmin",
	"ImagePortalAdmin", "ImagePortalContrib", "ImagePortalContribUser",
}

// readRoles may call the read operations (getCompanyInfo, getFolders,
// searchAssets, ...). Adobe lists every role but WebServiceUser for them;
// WebServiceUser is never in an authorized list we saw (ips-api.md §1.5),
// so ipsd denies it here too.
var readRoles = []string{
	"IpsUser", "IpsAdmin", "IpsCompanyAdmin",
	"TrialSiteAdmin", "TrialSiteUser",
	"ImagePortalAdmin", "ImagePortalUser", "ImagePortalContrib", "ImagePortalContribUser",
}

func knownRole(r string) bool { return slices.Contains(allRoles, r) }

// Credentials are what a request carries to say who it is: an authHeader
// user and password, or HTTP Basic. Present is false when neither was sent.
type Credentials struct {
	Present        bool
	User, Password string
	// Unusable says why credentials that were sent cannot be checked (an
	// accessToken, an Authorization header that is not HTTP Basic); such
	// a request is refused, never taken for the socket peer.
	Unusable string
}

// String keeps the password out of logs.
func (c Credentials) String() string { return c.User }

// LogValue keeps the password out of logs in every slog format.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.User) }

// LogValue keeps the password hash out of logs: a user is logged as its
// email.
func (u UserConfig) LogValue() slog.Value { return slog.StringValue(u.Email) }

// users is the configured user table, read-only after construction; a
// reload builds a new one, which also forgets verified passwords.
type users struct {
	byEmail map[string]*UserConfig
	byUID   map[uint32]*UserConfig

	mu       sync.Mutex
	verified map[[32]byte]bool  // digests of credentials that matched their hash
	checking singleflight.Group // one bcrypt comparison per credentials at a time
}

// maxVerified bounds the cache of verified credentials.
const maxVerified = 4096

// bcryptSlots bounds concurrent bcrypt comparisons: each takes tens of
// milliseconds of CPU, and a flood of wrong passwords must not starve the
// renders.
var bcryptSlots = make(chan struct{}, max(1, runtime.NumCPU()/2))

// bcryptRuns counts bcrypt comparisons, for tests.
var bcryptRuns atomic.Int64

func newUsers(cfg []UserConfig) *users {
	u := &users{byEmail: map[string]*UserConfig{}, byUID: map[uint32]*UserConfig{}, verified: map[[32]byte]bool{}}
	for i := range cfg {
		uc := &cfg[i]
		u.byEmail[strings.ToLower(uc.Email)] = uc
		for _, acct := range uc.Unix {
			if uid, ok := lookupUID(acct); ok {
				u.byUID[uid] = uc
			}
		}
	}
	return u
}

// lookupUID resolves a local account name or numeric uid.
func lookupUID(acct string) (uint32, bool) {
	if n, err := strconv.ParseUint(acct, 10, 32); err == nil {
		return uint32(n), true
	}
	lu, err := user.Lookup(acct)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(lu.Uid, 10, 32)
	return uint32(n), err == nil
}

// identify decides who a request is (decisions.md §5): credentials when
// present, with no fallback; otherwise the local account uid (the socket peer
// or the request file's owner), or the forced watch-folder user.
func (u *users) identify(cred Credentials, uid uint32, haveUID bool, forced string) (*UserConfig, *Fault) {
	if cred.Present {
		if cred.User == "" && cred.Password == "" && cred.Unusable != "" {
			return nil, authFault(10000, "The request could not be authenticated: "+cred.Unusable+".")
		}
		uc := u.byEmail[strings.ToLower(cred.User)]
		if uc == nil {
			return nil, authFault(10002, "Unknown user '"+printable(cred.User)+"'.")
		}
		if !u.passwordOK(uc, cred.Password) {
			return nil, authFault(10001, "Invalid username/password")
		}
		return uc, nil
	}
	if forced != "" {
		if uc := u.byEmail[strings.ToLower(forced)]; uc != nil {
			return uc, nil
		}
	}
	if haveUID {
		if uc := u.byUID[uid]; uc != nil {
			return uc, nil
		}
	}
	return nil, authFault(10000, "The request could not be authenticated: no credentials, and the caller's local account maps to no ipsd user.")
}

// passwordOK checks password against uc's bcrypt hash. A match is
// remembered (as a SHA-256 digest of user, hash and password) so that a
// client making many calls pays for bcrypt once; mismatches are never
// remembered and always cost a full comparison.
func (u *users) passwordOK(uc *UserConfig, password string) bool {
	if uc.PasswordHash == "" {
		return false
	}
	key := sha256.Sum256([]byte(uc.Email + "\x00" + uc.PasswordHash + "\x00" + password))
	u.mu.Lock()
	ok := u.verified[key]
	u.mu.Unlock()
	if ok {
		return true
	}
	// a client that opens many connections at once with the same
	// credentials waits for one comparison instead of queueing one each
	v, _, _ := u.checking.Do(string(key[:]), func() (any, error) {
		u.mu.Lock()
		ok := u.verified[key] // matched by a flight that just ended
		u.mu.Unlock()
		if ok {
			return true, nil
		}
		bcryptRuns.Add(1)
		bcryptSlots <- struct{}{}
		err := bcrypt.CompareHashAndPassword([]byte(uc.PasswordHash), []byte(password))
		<-bcryptSlots
		if err != nil {
			return false, nil
		}
		u.mu.Lock()
		if len(u.verified) >= maxVerified {
			clear(u.verified)
		}
		u.verified[key] = true
		u.mu.Unlock()
		return true, nil
	})
	return v.(bool)
}

// authorize checks that uc may call op in company (name or handle): a
// member of the company whose role is in roles, or an ips_admin. Non-members
// get 20000, members whose roles all lack the operation 20003.
func authorize(uc *UserConfig, op string, companyName, companyHandle string, roles []string) *Fault {
	if uc.IPSAdmin {
		return nil
	}
	member := false
	for _, m := range uc.Memberships {
		if m.Company != companyName && m.Company != companyHandle {
			continue
		}
		member = true
		if slices.Contains(roles, m.Role) {
			return nil
		}
	}
	if member {
		return authzFault(20003, "User does not have permission to access operation '"+op+"'")
	}
	return authzFault(20000, "User is not a member of company '"+companyName+"'.")
}

// Warnings lists what in c is valid but probably not what its author
// meant: local accounts in a user's unix list that this machine does not
// know (requests from them will not be recognised as that user), and
// memberships of companies that have no directory under root yet. Neither
// is an error: a name service can be briefly unavailable at boot, and a
// company's directory can be made after the config.
func (c *Config) Warnings() []string {
	var w []string
	for i, u := range c.Users {
		for _, acct := range u.Unix {
			if _, ok := lookupUID(acct); !ok {
				w = append(w, fmt.Sprintf("user[%d].unix: no local account %q on this machine; requests from it will not act as %s", i, acct, u.Email))
			}
		}
		for j, m := range u.Memberships {
			if strings.HasPrefix(m.Company, "c|") || strings.ContainsAny(m.Company, "/\\") {
				continue // a handle, or a name the config check already refused
			}
			if fi, err := os.Stat(filepath.Join(c.Root, m.Company)); err != nil || !fi.IsDir() {
				w = append(w, fmt.Sprintf("user[%d].membership[%d].company: no directory %q under root yet", i, j, m.Company))
			}
		}
	}
	return w
}
