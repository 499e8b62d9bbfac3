package daemon

import (
	"cmp"
	"errors"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/ipsd/ipsd/fsstore"
)

// The read operations let a client find what to copy (ips-api.md §4). They
// return the documented element names; fields ipsd has no data for
// (publish state, metadata, permissions) are left out, and every element of
// the replies is optional in ipsd's WSDL. They obey the same identities and
// memberships as copyImage; readRoles may call them.

// maxItems bounds the items of one array parameter.
const maxItems = 1000

// maxPage is the most assets searchAssets returns in one call.
const maxPage = 1000

// readOp is one read operation.
type readOp func(d *Daemon, c *call, caller *UserConfig) (elem, *Fault)

var readOps = map[string]readOp{
	"getCompanyInfo":  (*Daemon).getCompanyInfo,
	"getFolders":      (*Daemon).getFolders,
	"getFolderTree":   (*Daemon).getFolderTree,
	"getAssets":       (*Daemon).getAssets,
	"getAssetsByName": (*Daemon).getAssetsByName,
	"checkAssetNames": (*Daemon).checkAssetNames,
	"searchAssets":    (*Daemon).searchAssets,
}

// company resolves and authorizes the companyHandle of c (companyName is
// accepted as an alias, as for copyImage).
func (d *Daemon) company(c *call, caller *UserConfig) (fsstore.Company, *Fault) {
	h, ok := c.text("companyHandle")
	if !ok {
		if h, ok = c.text("companyName"); !ok {
			return fsstore.Company{}, apiFault(30002, "Missing required element 'companyHandle'.")
		}
	}
	co, err := d.store.Company(h)
	if err != nil {
		return co, apiFault(30001, "Invalid companyHandle '%s'.", printable(h))
	}
	if f := authorize(caller, c.Op, co.Name, co.Handle, readRoles); f != nil {
		return co, f
	}
	return co, nil
}

// items returns the texts of the items children of param's array element
// local, and whether the element is present.
func (c *call) items(local string) ([]string, bool, *Fault) {
	n := c.Param.child(local)
	if n == nil {
		return nil, false, nil
	}
	var out []string
	for _, k := range n.Kids {
		if k.Local != "items" {
			continue
		}
		if len(out) == maxItems {
			return nil, true, apiFault(30001, "Too many items in '%s': at most %d.", local, maxItems)
		}
		out = append(out, strings.TrimSpace(k.Text))
	}
	return out, true, nil
}

// boolParam reads an xsd:boolean child; def when absent.
func (c *call) boolParam(local string, def bool) (bool, *Fault) {
	v, ok := c.text(local)
	if !ok {
		return def, nil
	}
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, apiFault(30001, "Invalid %s '%s': want true or false.", local, printable(v))
}

// intParam reads an xsd:int child; def when absent.
func (c *call) intParam(local string, def int) (int, *Fault) {
	v, ok := c.text(local)
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, apiFault(30001, "Invalid %s '%s': want an integer.", local, printable(v))
	}
	return n, nil
}

func companyElem(co fsstore.Company) elem {
	return elem{Name: "companyInfo", Kids: []elem{
		{Name: "companyHandle", Text: co.Handle},
		{Name: "name", Text: co.Name},
		{Name: "rootPath", Text: co.Name + "/"},
	}}
}

func (d *Daemon) getCompanyInfo(c *call, caller *UserConfig) (elem, *Fault) {
	var co fsstore.Company
	var err error
	if h, ok := c.text("companyHandle"); ok {
		co, err = d.store.Company(h)
		if err != nil {
			return elem{}, apiFault(30001, "Invalid companyHandle '%s'.", printable(h))
		}
	} else if name, ok := c.text("companyName"); ok {
		co, err = d.store.CompanyByName(name)
		if err != nil {
			return elem{}, apiFault(30001, "Invalid companyName '%s'.", printable(name))
		}
	} else {
		return elem{}, apiFault(30002, "Missing required element 'companyHandle' or 'companyName'.")
	}
	if f := authorize(caller, c.Op, co.Name, co.Handle, readRoles); f != nil {
		return elem{}, f
	}
	return elem{Name: "getCompanyInfoReturn", Kids: []elem{companyElem(co)}}, nil
}

// startFolder resolves the optional folder path element local (a path or
// folder handle, ips-api.md §3); the company root when absent.
func (d *Daemon) startFolder(c *call, co fsstore.Company, local string) (fsstore.Folder, *Fault) {
	h, ok := c.text(local)
	if !ok || h == "" {
		h = co.Name + "/"
	}
	f, err := d.store.Folder(co, h)
	if err != nil {
		return f, apiFault(30001, "Invalid %s '%s'.", local, printable(h))
	}
	return f, nil
}

// subfolders returns the folders of co below start (start itself
// included) and each folder's direct children.
func (d *Daemon) subfolders(co fsstore.Company, start fsstore.Folder) ([]fsstore.Folder, map[string][]fsstore.Folder, *Fault) {
	all, err := d.store.Folders(co)
	if err != nil {
		return nil, nil, apiFault(30000, "Listing folders failed: %v", err)
	}
	var out []fsstore.Folder
	kids := map[string][]fsstore.Folder{}
	for _, f := range all {
		if f.Path != start.Path && !strings.HasPrefix(f.Path, start.Path+"/") {
			continue
		}
		out = append(out, f)
		if f.Path != start.Path {
			p := path.Dir(f.Path)
			kids[p] = append(kids[p], f)
		}
	}
	if len(out) == 0 || out[0].Path != start.Path {
		// the catalog has not seen the folder yet; it exists in the tree
		out = append([]fsstore.Folder{start}, out...)
	}
	return out, kids, nil
}

func folderElem(f fsstore.Folder, hasSub bool) elem {
	return elem{Name: "items", Kids: []elem{
		{Name: "folderHandle", Text: f.Handle()},
		{Name: "path", Text: f.Handle()},
		{Name: "hasSubfolders", Text: strconv.FormatBool(hasSub)},
	}}
}

func (d *Daemon) getFolders(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	start, f := d.startFolder(c, co, "folderPath")
	if f != nil {
		return elem{}, f
	}
	folders, kids, f := d.subfolders(co, start)
	if f != nil {
		return elem{}, f
	}
	arr := elem{Name: "folderArray"}
	for _, fo := range folders {
		arr.Kids = append(arr.Kids, folderElem(fo, len(kids[fo.Path]) > 0))
	}
	return elem{Name: "getFoldersReturn", Kids: []elem{arr}}, nil
}

func (d *Daemon) getFolderTree(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	if _, ok := c.text("depth"); !ok {
		return elem{}, apiFault(30002, "Missing required element 'depth'.")
	}
	depth, f := c.intParam("depth", 0)
	if f != nil {
		return elem{}, f
	}
	start, f := d.startFolder(c, co, "folderPath")
	if f != nil {
		return elem{}, f
	}
	_, kids, f := d.subfolders(co, start)
	if f != nil {
		return elem{}, f
	}
	// depth is the number of subfolder levels below the start folder;
	// negative means all of them
	var tree func(fo fsstore.Folder, left int) elem
	tree = func(fo fsstore.Folder, left int) elem {
		e := folderElem(fo, len(kids[fo.Path]) > 0)
		if left != 0 && len(kids[fo.Path]) > 0 {
			sub := elem{Name: "subfolderArray"}
			for _, k := range kids[fo.Path] {
				sub.Kids = append(sub.Kids, tree(k, left-1))
			}
			e.Kids = append(e.Kids, sub)
		}
		return e
	}
	root := tree(start, depth)
	root.Name = "folders"
	return elem{Name: "getFolderTreeReturn", Kids: []elem{root}}, nil
}

// assetElem is one Asset (ips-api.md §4): the fields ipsd knows.
func assetElem(a fsstore.Asset) elem {
	folder := fsstore.Folder{Company: a.Company, Path: path.Dir(a.Path)}.Handle()
	file := path.Base(a.Path)
	return elem{Name: "items", Kids: []elem{
		{Name: "assetHandle", Text: a.Handle},
		{Name: "type", Text: "Image"},
		{Name: "name", Text: a.Name},
		{Name: "fileName", Text: file},
		{Name: "folder", Text: folder},
		{Name: "folderHandle", Text: folder},
		{Name: "trashState", Text: "NotInTrash"},
		{Name: "imageInfo", Kids: []elem{
			{Name: "originalPath", Text: folder},
			{Name: "originalFile", Text: file},
			{Name: "fileSize", Text: strconv.FormatInt(a.Size, 10)},
		}},
	}}
}

func assetArray(as []fsstore.Asset) elem {
	arr := elem{Name: "assetArray"}
	for _, a := range as {
		arr.Kids = append(arr.Kids, assetElem(a))
	}
	return arr
}

func (d *Daemon) getAssets(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	handles, ok, f := c.items("assetHandleArray")
	if f != nil {
		return elem{}, f
	}
	if !ok {
		return elem{}, apiFault(30002, "Missing required element 'assetHandleArray'.")
	}
	var out []fsstore.Asset
	for _, h := range handles {
		a, err := d.store.Asset(h)
		switch {
		case errors.Is(err, fsstore.ErrInvalidHandle):
			return elem{}, apiFault(30001, "Invalid assetHandle '%s'.", printable(h))
		case err != nil || a.Company.ID != co.ID:
			continue // unknown here: left out, as IPS does
		}
		out = append(out, a)
	}
	return elem{Name: "getAssetsReturn", Kids: []elem{assetArray(out)}}, nil
}

func (d *Daemon) getAssetsByName(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	names, ok, f := c.items("nameArray")
	if f != nil {
		return elem{}, f
	}
	if !ok {
		return elem{}, apiFault(30002, "Missing required element 'nameArray'.")
	}
	as, err := d.store.AssetsByName(co, names)
	if err != nil {
		return elem{}, apiFault(30000, "Looking up assets failed: %v", err)
	}
	if !typeAllowed(c) {
		as = nil
	}
	return elem{Name: "getAssetsByNameReturn", Kids: []elem{assetArray(as)}}, nil
}

// typeAllowed applies assetTypeArray / excludeAssetTypeArray: every ipsd
// asset is an Image.
func typeAllowed(c *call) bool {
	if types, ok, _ := c.items("assetTypeArray"); ok && !slices.ContainsFunc(types, isImageType) {
		return false
	}
	if types, ok, _ := c.items("excludeAssetTypeArray"); ok && slices.ContainsFunc(types, isImageType) {
		return false
	}
	return true
}

func isImageType(t string) bool { return strings.EqualFold(t, "Image") }

func (d *Daemon) checkAssetNames(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	names, ok, f := c.items("assetNameArray")
	if !ok && f == nil {
		// the doc table's spelling
		names, ok, f = c.items("assetNamesArray")
	}
	if f != nil {
		return elem{}, f
	}
	if !ok {
		return elem{}, apiFault(30002, "Missing required element 'assetNameArray'.")
	}
	as, err := d.store.AssetsByName(co, names)
	if err != nil {
		return elem{}, apiFault(30000, "Looking up assets failed: %v", err)
	}
	used := map[string]bool{}
	for _, a := range as {
		used[a.Name] = true
	}
	arr := elem{Name: "inUseNameArray"}
	seen := map[string]bool{}
	for _, n := range names {
		if used[n] && !seen[n] {
			seen[n] = true
			arr.Kids = append(arr.Kids, elem{Name: "items", Text: n})
		}
	}
	return elem{Name: "checkAssetNamesReturn", Kids: []elem{arr}}, nil
}

// A nameCond is one name condition of searchAssets.
type nameCond struct {
	field string // "name" or "filename"
	op    string // lower-cased string comparison operator
	value string
}

func (nc nameCond) match(a fsstore.Asset) bool {
	v := a.Name
	if nc.field == "filename" {
		v = path.Base(a.Path)
	}
	switch nc.op {
	case "equals":
		return v == nc.value
	case "notequals":
		return v != nc.value
	case "contains":
		return strings.Contains(v, nc.value)
	case "notcontains":
		return !strings.Contains(v, nc.value)
	case "startswith":
		return strings.HasPrefix(v, nc.value)
	case "endswith":
		return strings.HasSuffix(v, nc.value)
	}
	return false
}

// matchAll reads a search match mode: MatchAll (default) or MatchAny.
func matchAll(c *call, local string) (bool, *Fault) {
	v, ok := c.text(local)
	if !ok || v == "" || strings.EqualFold(v, "MatchAll") {
		return true, nil
	}
	if strings.EqualFold(v, "MatchAny") {
		return false, nil
	}
	return false, apiFault(30001, "Invalid %s '%s': want MatchAll or MatchAny.", local, printable(v))
}

// searchAssets supports the folder, includeSubfolders, trashState,
// assetTypeArray, name conditions (systemFieldConditionArray on the fields
// name and fileName with the six string comparison operators, matched
// case-sensitively like Asset IDs; keywordArray as case-insensitive
// substrings of the name), sortBy name/fileName/path, and paging with
// recordsPerPage (at most 1000) and resultsPage (from 1).
func (d *Daemon) searchAssets(c *call, caller *UserConfig) (elem, *Fault) {
	co, f := d.company(c, caller)
	if f != nil {
		return elem{}, f
	}
	if _, ok := c.text("includeSubfolders"); !ok {
		return elem{}, apiFault(30002, "Missing required element 'includeSubfolders'.")
	}
	sub, f := c.boolParam("includeSubfolders", false)
	if f != nil {
		return elem{}, f
	}
	start, f := d.startFolder(c, co, "folder")
	if f != nil {
		return elem{}, f
	}
	per, f := c.intParam("recordsPerPage", maxPage)
	if f != nil {
		return elem{}, f
	}
	page, f := c.intParam("resultsPage", 1)
	if f != nil {
		return elem{}, f
	}
	if per < 1 || per > maxPage {
		return elem{}, apiFault(30001, "Invalid recordsPerPage '%d': from 1 to %d.", per, maxPage)
	}
	if page < 1 {
		return elem{}, apiFault(30001, "Invalid resultsPage '%d': pages count from 1.", page)
	}
	condAll, f := matchAll(c, "conditionMatchMode")
	if f != nil {
		return elem{}, f
	}
	fieldAll, f := matchAll(c, "systemFieldMatchMode")
	if f != nil {
		return elem{}, f
	}
	conds, f := readConds(c)
	if f != nil {
		return elem{}, f
	}
	keywords, _, f := c.items("keywordArray")
	if f != nil {
		return elem{}, f
	}
	less, f := sortOrder(c)
	if f != nil {
		return elem{}, f
	}

	as, err := d.store.Assets(start, sub)
	if err != nil {
		return elem{}, apiFault(30000, "Searching assets failed: %v", err)
	}
	if ts, _ := c.text("trashState"); strings.EqualFold(ts, "InTrash") || !typeAllowed(c) {
		as = nil // ipsd has no trash
	}
	as = slices.DeleteFunc(as, func(a fsstore.Asset) bool {
		var groups []bool
		if len(conds) > 0 {
			groups = append(groups, combine(fieldAll, len(conds), func(i int) bool { return conds[i].match(a) }))
		}
		if len(keywords) > 0 {
			lower := strings.ToLower(a.Name)
			groups = append(groups, combine(true, len(keywords), func(i int) bool {
				return strings.Contains(lower, strings.ToLower(keywords[i]))
			}))
		}
		return len(groups) > 0 && !combine(condAll, len(groups), func(i int) bool { return groups[i] })
	})
	slices.SortStableFunc(as, less)

	total := len(as)
	lo := total // a page past the end (page-1 times per may overflow)
	if page-1 < total/per+1 {
		lo = min((page-1)*per, total)
	}
	hi := min(lo+per, total)
	return elem{Name: "searchAssetsReturn", Kids: []elem{
		{Name: "totalRows", Text: strconv.Itoa(total)},
		assetArray(as[lo:hi]),
	}}, nil
}

// combine is MatchAll (all) or MatchAny over n conditions.
func combine(all bool, n int, ok func(int) bool) bool {
	for i := range n {
		if ok(i) != all {
			return !all
		}
	}
	return all
}

func readConds(c *call) ([]nameCond, *Fault) {
	arr := c.Param.child("systemFieldConditionArray")
	if arr == nil {
		return nil, nil
	}
	var out []nameCond
	for _, it := range arr.Kids {
		if it.Local != "items" {
			continue
		}
		if len(out) == maxItems {
			return nil, apiFault(30001, "Too many items in 'systemFieldConditionArray': at most %d.", maxItems)
		}
		get := func(l string) string {
			if k := it.child(l); k != nil {
				return strings.TrimSpace(k.Text)
			}
			return ""
		}
		nc := nameCond{field: strings.ToLower(get("field")), op: strings.ToLower(get("op")), value: get("value")}
		if nc.field != "name" && nc.field != "filename" {
			return nil, apiFault(30001, "Unsupported system field '%s': ipsd searches name and fileName.", printable(get("field")))
		}
		switch nc.op {
		case "equals", "notequals", "contains", "notcontains", "startswith", "endswith":
		default:
			return nil, apiFault(30001, "Invalid op '%s': want Equals, NotEquals, Contains, NotContains, StartsWith or EndsWith.", printable(get("op")))
		}
		out = append(out, nc)
	}
	return out, nil
}

func sortOrder(c *call) (func(a, b fsstore.Asset) int, *Fault) {
	by, _ := c.text("sortBy")
	var key func(fsstore.Asset) string
	switch strings.ToLower(by) {
	case "", "path", "folder":
		key = func(a fsstore.Asset) string { return a.Path }
	case "name", "assetname":
		key = func(a fsstore.Asset) string { return a.Name }
	case "filename":
		key = func(a fsstore.Asset) string { return path.Base(a.Path) }
	default:
		return nil, apiFault(30001, "Unsupported sortBy '%s': ipsd sorts by name, fileName or path.", printable(by))
	}
	desc := false
	switch dir, _ := c.text("sortDirection"); strings.ToLower(dir) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return nil, apiFault(30001, "Invalid sortDirection '%s': want Ascending or Descending.", printable(dir))
	}
	return func(a, b fsstore.Asset) int {
		r := cmp.Or(strings.Compare(key(a), key(b)), strings.Compare(a.Path, b.Path))
		if desc {
			r = -r
		}
		return r
	}, nil
}
