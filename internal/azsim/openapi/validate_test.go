package openapi

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// testDoc is a small document exercising every rule; widget.json $refs a
// second file so cross-file resolution is covered too.
const testDoc = `{
  "swagger": "2.0",
  "info": {"version": "2030-01-01"},
  "paths": {
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Test.RP/widgets/{name}": {
      "put": {"operationId": "Widgets_CreateOrUpdate", "parameters": [
        {"$ref": "../common/types.json#/parameters/ResourceGroupNameParameter"},
        {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/Widget"}}
      ]},
      "get": {"operationId": "Widgets_Get"}
    },
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Test.RP/widgets/{name}/start": {
      "post": {"operationId": "Widgets_Start"}
    },
    "/{scope}/providers/Test.RP/labels/{labelName}": {
      "put": {"operationId": "Labels_CreateOrUpdate", "parameters": [
        {"name": "scope", "in": "path", "required": true, "type": "string", "x-ms-skip-url-encoding": true},
        {"name": "labelName", "in": "path", "required": true, "type": "string", "maxLength": 4},
        {"name": "body", "in": "body", "required": true, "schema": {"$ref": "#/definitions/Part"}}
      ]}
    }
  },
  "definitions": {
    "Widget": {
      "type": "object",
      "properties": {
        "properties": {"$ref": "#/definitions/WidgetProperties"},
        "zone": {"type": "string", "x-ms-mutability": ["read", "create"]},
        "secretSeed": {"type": "string", "x-ms-mutability": ["update", "read"]},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
        "strict": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false},
        "gadget": {"$ref": "#/definitions/NotVendoredGadget"}
      },
      "allOf": [{"$ref": "../common/types.json#/definitions/Tracked"}]
    },
    "WidgetProperties": {
      "type": "object",
      "properties": {
        "size": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": true},
        "color": {"type": "string", "enum": ["Red", "Blue"], "x-ms-enum": {"name": "Color", "modelAsString": false}},
        "shape": {"type": "string", "enum": ["Round"], "x-ms-enum": {"name": "Shape", "modelAsString": true}},
        "code": {"type": "string", "pattern": "^[a-z]{2}[0-9]$", "minLength": 3, "maxLength": 3},
        "parts": {"type": "array", "maxItems": 2, "items": {"$ref": "#/definitions/Part"}},
        "state": {"type": "string", "readOnly": true},
        "health": {"$ref": "#/definitions/Health"},
        "history": {"type": "array", "items": {"type": "string", "readOnly": true}}
      },
      "required": ["size"]
    },
    "Health": {"type": "string", "readOnly": true, "enum": ["Ok", "Sick"]},
    "Part": {"type": "object", "properties": {"name": {"type": "string"}, "on": {"type": "boolean"}}, "required": ["name"]}
  }
}`

const testCommon = `{
  "swagger": "2.0",
  "info": {"version": "v1"},
  "definitions": {
    "Tracked": {
      "type": "object",
      "properties": {
        "id": {"type": "string", "readOnly": true},
        "location": {"type": "string", "x-ms-mutability": ["read", "create"]},
        "tags": {"type": "object", "additionalProperties": {"type": "string"}}
      },
      "required": ["location"]
    }
  },
  "parameters": {
    "ResourceGroupNameParameter": {"name": "resourceGroupName", "in": "path", "required": true, "type": "string", "maxLength": 12, "pattern": "^[-\\w\\._\\(\\)]+$"}
  }
}`

func testSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := LoadFS(fstest.MapFS{
		"rp/stable/widget.json": {Data: []byte(testDoc)},
		"rp/common/types.json":  {Data: []byte(testCommon)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const widgetPath = "/subscriptions/s/resourceGroups/rg1/providers/Test.RP/widgets/w1"

func TestValidateRules(t *testing.T) {
	s := testSpec(t)
	put, ok := s.Find("PUT", widgetPath, "2030-01-01")
	if !ok {
		t.Fatal("PUT widget not found")
	}
	tests := []struct {
		name     string
		path     string
		body     string
		existing string
		want     []string // "rule at path"
	}{
		{name: "valid create", body: `{"location":"westus","zone":"1","properties":{"size":3,"ratio":0.5,"color":"Red","code":"ab1","parts":[{"name":"p"}]},"tags":{"k":"v"},"labels":{"a":"abc"}}`},
		{name: "enum compares case-insensitively", body: `{"location":"westus","properties":{"size":3,"color":"blue"}}`},
		{name: "modelAsString enum is open", body: `{"location":"westus","properties":{"size":3,"shape":"Square"}}`},
		{name: "null is absent", body: `{"location":"westus","properties":{"size":3,"color":null}}`},
		{name: "required", body: `{"properties":{"parts":[{"on":true}]}}`,
			want: []string{"required at location", "required at properties.parts[0].name", "required at properties.size"}},
		{name: "required nested object value null", body: `{"location":null,"properties":{"size":1}}`, want: []string{"required at location"}},
		{name: "readOnly own and inherited", body: `{"location":"westus","id":"/x","properties":{"size":1,"state":"On"}}`,
			want: []string{"readOnly at id", "readOnly at properties.state"}},
		{name: "readOnly definition and array items", body: `{"location":"westus","properties":{"size":1,"health":"Ok","history":["a","b"]}}`,
			want: []string{"readOnly at properties.health", "readOnly at properties.history[0]", "readOnly at properties.history[1]"}},
		{name: "closed enum", body: `{"location":"westus","properties":{"size":1,"color":"Green"}}`, want: []string{"enum at properties.color"}},
		{name: "pattern and length", body: `{"location":"westus","properties":{"size":1,"code":"abcd"}}`,
			want: []string{"length at properties.code", "pattern at properties.code"}},
		{name: "minimum maximum exclusive", body: `{"location":"westus","properties":{"size":11,"ratio":0}}`,
			want: []string{"range at properties.ratio", "range at properties.size"}},
		{name: "integer type", body: `{"location":"westus","properties":{"size":1.5}}`, want: []string{"type at properties.size"}},
		{name: "string type", body: `{"location":7,"properties":{"size":1}}`, want: []string{"type at location"}},
		{name: "maxItems", body: `{"location":"westus","properties":{"size":1,"parts":[{"name":"a"},{"name":"b"},{"name":"c"}]}}`,
			want: []string{"length at properties.parts"}},
		{name: "unknown member", body: `{"location":"westus","colour":"x","properties":{"size":1}}`, want: []string{"unknown at colour"}},
		{name: "additionalProperties false", body: `{"location":"westus","strict":{"a":"x","b":"y"},"properties":{"size":1}}`, want: []string{"unknown at strict.b"}},
		{name: "additionalProperties schema", body: `{"location":"westus","labels":{"k":"toolong"},"properties":{"size":1}}`, want: []string{"length at labels.k"}},
		{name: "not vendored", body: `{"location":"westus","gadget":{},"properties":{"size":1}}`, want: []string{"notVendored at gadget"}},
		{name: "create-forbidden property on create", body: `{"location":"westus","secretSeed":"s","properties":{"size":1}}`, want: []string{"mutability at secretSeed"}},
		{name: "create-only property unchanged on update", body: `{"location":"WestUS","zone":"1","properties":{"size":1}}`,
			existing: `{"location":"westus","zone":"1","properties":{"size":2}}`},
		{name: "create-only property changed on update", body: `{"location":"eastus","zone":"2","properties":{"size":1}}`,
			existing: `{"location":"westus","zone":"1"}`, want: []string{"mutability at location", "mutability at zone"}},
		{name: "update-only property allowed on update", body: `{"location":"westus","secretSeed":"s","properties":{"size":1}}`, existing: `{"location":"westus"}`},
		{name: "body missing", body: ``, want: []string{"body at "}},
		{name: "body not json", body: `{"location":`, want: []string{"body at "}},
		{name: "path parameter", path: "/subscriptions/s/resourceGroups/rg!with-a-long-name/providers/Test.RP/widgets/w1",
			body: `{"location":"westus","properties":{"size":1}}`, want: []string{"pathParameter at resourceGroupName", "pathParameter at resourceGroupName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			if p == "" {
				p = widgetPath
			}
			got := []string{}
			for _, f := range put.Validate(p, []byte(tt.body), []byte(tt.existing)) {
				got = append(got, string(f.Rule)+" at "+f.Path)
			}
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("findings (-want +got)\n%s", d)
			}
		})
	}
}

func TestValidateBodylessOperation(t *testing.T) {
	s := testSpec(t)
	start, ok := s.Find("post", strings.ToUpper(widgetPath)+"/START", "2030-01-01")
	if !ok {
		t.Fatal("POST start not found (case-insensitive match)")
	}
	if start.HasBody() {
		t.Fatal("start declares no body")
	}
	if f := start.Validate(widgetPath+"/start", nil, nil); len(f) != 0 {
		t.Errorf("empty body: %v", f)
	}
	if f := start.Validate(widgetPath+"/start", []byte(`{"x":1}`), nil); len(f) != 1 || f[0].Rule != RuleBody {
		t.Errorf("unexpected body: %v", f)
	}
}

// TestMultiSegmentParameter binds an x-ms-skip-url-encoding parameter to a
// run of segments (the scope of a resource) and checks the parameters after it.
func TestMultiSegmentParameter(t *testing.T) {
	s := testSpec(t)
	for _, tt := range []struct {
		path string
		want []string
	}{
		{widgetPath + "/providers/Test.RP/labels/ok", []string{}},
		{widgetPath + "/providers/Test.RP/labels/toolong", []string{"pathParameter at labelName"}},
	} {
		op, ok := s.Find("PUT", tt.path, "2030-01-01")
		if !ok {
			t.Fatalf("PUT %s not found", tt.path)
		}
		vals, _ := op.match(splitPath(tt.path))
		if d := cmp.Diff(strings.TrimPrefix(widgetPath, "/"), vals["scope"]); d != "" {
			t.Errorf("scope of %s (-want +got)\n%s", tt.path, d)
		}
		got := []string{}
		for _, f := range op.Validate(tt.path, []byte(`{"name":"n"}`), nil) {
			got = append(got, string(f.Rule)+" at "+f.Path)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s (-want +got)\n%s", tt.path, d)
		}
	}
}

func TestFind(t *testing.T) {
	s := testSpec(t)
	tests := []struct {
		method, path, api string
		want              string
	}{
		{"PUT", widgetPath, "2030-01-01", "Widgets_CreateOrUpdate"},
		{"GET", widgetPath, "2030-01-01", "Widgets_Get"},
		{"PUT", widgetPath, "2029-01-01", ""},
		{"DELETE", widgetPath, "2030-01-01", ""},
		{"PUT", widgetPath + "/extra", "2030-01-01", ""},
		{"PUT", "/subscriptions/s/providers/Test.RP/labels/l1", "2030-01-01", "Labels_CreateOrUpdate"},
		{"PUT", widgetPath + "/providers/test.rp/LABELS/l1", "2030-01-01", "Labels_CreateOrUpdate"},
		{"PUT", "/providers/Test.RP/labels/l1", "2030-01-01", "Labels_CreateOrUpdate"}, // the tenant root scope
		{"PUT", "/subscriptions/s/providers/Test.RP/labels/", "2030-01-01", ""},
		{"PUT", "/subscriptions/s/providers/Test.RP/labels", "2030-01-01", ""},
	}
	for _, tt := range tests {
		op, ok := s.Find(tt.method, tt.path, tt.api)
		got := ""
		if ok {
			got = op.ID
		}
		if got != tt.want {
			t.Errorf("Find(%s %s %s) = %q, want %q", tt.method, tt.path, tt.api, got, tt.want)
		}
	}
}

// TestEmbeddedSpecs loads the vendored extract and checks that a VM body
// shaped like mngr's validates while its classic mistakes do not.
func TestEmbeddedSpecs(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	const vm = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mngr/providers/Microsoft.Compute/virtualMachines/mngr-a-1"
	put, ok := s.Find("PUT", vm, "2026-04-01")
	if !ok || put.ID != "VirtualMachines_CreateOrUpdate" {
		t.Fatalf("VM PUT not found: %v", put)
	}
	good := `{"location":"westus","tags":{"managed-by":"mngr"},"identity":{"type":"SystemAssigned"},"properties":{
	  "hardwareProfile":{"vmSize":"Standard_D2s_v5"},
	  "storageProfile":{"imageReference":{"publisher":"Canonical","offer":"o","sku":"s","version":"latest"},
	    "osDisk":{"createOption":"FromImage","deleteOption":"Delete","diskSizeGB":64,"managedDisk":{"storageAccountType":"Premium_LRS"}}},
	  "osProfile":{"computerName":"mngr-a-1","adminUsername":"mngr","customData":"eA==",
	    "linuxConfiguration":{"disablePasswordAuthentication":true,"ssh":{"publicKeys":[{"path":"/home/mngr/.ssh/authorized_keys","keyData":"ssh-ed25519 AAAA"}]}}},
	  "networkProfile":{"networkInterfaces":[{"id":"/x/nic","properties":{"primary":true,"deleteOption":"Delete"}}]},
	  "priority":"Spot","evictionPolicy":"Delete","billingProfile":{"maxPrice":-1}}}`
	if f := put.Validate(vm, []byte(good), nil); len(f) != 0 {
		t.Errorf("mngr-shaped VM body: %v", f)
	}
	bad := `{"location":"westus","identity":{"type":"Systemassigned, bogus","principalId":"p"},"properties":{"vmId":"x",
	  "storageProfile":{"osDisk":{"diskSizeGB":"64"}}}}`
	got := []string{}
	for _, f := range put.Validate(vm, []byte(bad), nil) {
		got = append(got, string(f.Rule)+" at "+f.Path)
	}
	want := []string{"readOnly at identity.principalId", "enum at identity.type",
		"required at properties.storageProfile.osDisk.createOption", "type at properties.storageProfile.osDisk.diskSizeGB", "readOnly at properties.vmId"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("bad VM body findings (-want +got)\n%s", d)
	}
}
