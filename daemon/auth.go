package daemon

import (
	"os/user"
	"slices"
	"strconv"

	"golang.org/x/crypto/bcrypt"
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

func knownRole(r string) bool { return slices.Contains(allRoles, r) }

// Credentials are what a request carries to say who it is: an authHeader
// user and password, or HTTP Basic. Present is false when neither was sent.
type Credentials struct {
	Present        bool
	User, Password string
}

// LogValue keeps the password out of logs.
func (c Credentials) String() string { return c.User }

// users is the configured user table, read-only after construction.
type users struct {
	byEmail map[string]*UserConfig
	byUID   map[uint32]*UserConfig
}

func newUsers(cfg []UserConfig) *users {
	u := &users{byEmail: map[string]*UserConfig{}, byUID: map[uint32]*UserConfig{}}
	for i := range cfg {
		uc := &cfg[i]
		u.byEmail[uc.Email] = uc
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
		uc := u.byEmail[cred.User]
		if uc == nil {
			return nil, authFault(10002, "Unknown user '"+cred.User+"'.")
		}
		if uc.PasswordHash == "" ||
			bcrypt.CompareHashAndPassword([]byte(uc.PasswordHash), []byte(cred.Password)) != nil {
			return nil, authFault(10001, "Invalid username/password")
		}
		return uc, nil
	}
	if forced != "" {
		if uc := u.byEmail[forced]; uc != nil {
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

// authorize checks that uc may call op in company (name or handle).
func authorize(uc *UserConfig, op string, companyName, companyHandle string, roles []string) *Fault {
	if uc.IPSAdmin {
		return nil
	}
	for _, m := range uc.Memberships {
		if m.Company != companyName && m.Company != companyHandle {
			continue
		}
		if slices.Contains(roles, m.Role) {
			return nil
		}
		return authzFault(20003, "User does not have permission to access operation '"+op+"'")
	}
	return authzFault(20000, "User is not a member of company '"+companyName+"'.")
}
