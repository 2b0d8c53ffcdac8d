package arm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"
)

const (
	nsgType    = "Microsoft.Network/networkSecurityGroups"
	vnetType   = "Microsoft.Network/virtualNetworks"
	subnetType = "Microsoft.Network/virtualNetworks/subnets"
	pipType    = "Microsoft.Network/publicIPAddresses"
	nicType    = "Microsoft.Network/networkInterfaces"
)

func etag() *string { return strPtr(`W/"` + newID() + `"`) }

func init() {
	register(&kind{typ: nsgType, put: putNSG, canDelete: func(s *Server, e *entry) *armError {
		for _, n := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType) {
			var nic armnetwork.Interface
			_ = json.Unmarshal(n.Model, &nic)
			if nic.Properties.NetworkSecurityGroup != nil && strings.EqualFold(*nic.Properties.NetworkSecurityGroup.ID, e.ID) {
				return errf(http.StatusBadRequest, "InUseNetworkSecurityGroupCannotBeDeleted", "Network security group %s cannot be deleted because it is in use by the following resources: %s.", e.ID, n.ID)
			}
		}
		return nil
	}})
	subnet := &kind{typ: subnetType, put: putSubnet, canDelete: func(s *Server, e *entry) *armError {
		if nic := nicUsingSubnet(s, e.ID); nic != "" {
			return errf(http.StatusBadRequest, "InUseSubnetCannotBeDeleted", "Subnet %s is in use by %s and cannot be deleted.", e.ID, nic)
		}
		return nil
	}}
	register(&kind{typ: vnetType, put: putVNet, children: map[string]*kind{"subnets": subnet}, render: renderVNet, canDelete: func(s *Server, e *entry) *armError {
		for _, sn := range s.st.ofType(e.ID, subnetType) {
			if nic := nicUsingSubnet(s, sn.ID); nic != "" {
				return errf(http.StatusBadRequest, "InUseSubnetCannotBeDeleted", "Subnet %s is in use by %s and cannot be deleted.", sn.ID, nic)
			}
		}
		return nil
	}})
	register(&kind{typ: pipType, put: putPIP, render: renderPIP, canDelete: func(s *Server, e *entry) *armError {
		for _, n := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType) {
			var nic armnetwork.Interface
			_ = json.Unmarshal(n.Model, &nic)
			for _, c := range nic.Properties.IPConfigurations {
				if c.Properties.PublicIPAddress != nil && strings.EqualFold(*c.Properties.PublicIPAddress.ID, e.ID) {
					return errf(http.StatusBadRequest, "PublicIPAddressCannotBeDeleted", "Public IP address %s can not be deleted since it is still allocated to resource %s.", e.ID, *c.ID)
				}
			}
		}
		return nil
	}})
	register(&kind{typ: nicType, put: putNIC, render: renderNIC, canDelete: func(s *Server, e *entry) *armError {
		if vmID := vmUsingNIC(s, e.ID); vmID != "" {
			return errf(http.StatusBadRequest, "NicInUse", "Network Interface %s is used by existing resource %s. In order to delete the network interface, it must be dissociated from the resource.", e.ID, vmID)
		}
		// A NIC reserved by a failed VM create cannot be deleted either
		// until the reservation ends, as on Azure.
		if r, ok := s.st.NICReservations[strings.ToLower(e.ID)]; ok && s.nowLocked().Before(r.Until) {
			return errf(http.StatusBadRequest, "NicReservedForAnotherVm",
				"Nic(s) in request is reserved for another Virtual Machine for 180 seconds. Please provide another nic(s) or retry after 180 seconds. Reserved VM: %s", r.VMID)
		}
		return nil
	}, deleted: func(s *Server, e *entry) {
		// A NIC made later under the same name is a new NIC.
		delete(s.st.NICReservations, strings.ToLower(e.ID))
	}})
}

func nicUsingSubnet(s *Server, subnetID string) string {
	for _, n := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType) {
		var nic armnetwork.Interface
		_ = json.Unmarshal(n.Model, &nic)
		for _, c := range nic.Properties.IPConfigurations {
			if c.Properties.Subnet != nil && strings.EqualFold(*c.Properties.Subnet.ID, subnetID) {
				return n.ID
			}
		}
	}
	return ""
}

func commonChecks(location *string, tags map[string]*string) *armError {
	if location == nil || *location == "" {
		return errf(http.StatusBadRequest, "LocationRequired", "The location property is required for this definition.")
	}
	if e := checkLocation(*location); e != nil {
		return e
	}
	return validateTags(tags)
}

func putNSG(s *Server, q *request, id, _, name string, _ *entry) (*entry, *armError) {
	var in armnetwork.SecurityGroup
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if e := validName(name, 80, `^[a-zA-Z0-9]([\w\.-]*[\w])?$`, "network security group"); e != nil {
		return nil, e
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if in.Properties == nil {
		in.Properties = &armnetwork.SecurityGroupPropertiesFormat{}
	}
	seen := map[string]bool{}
	for _, r := range in.Properties.SecurityRules {
		if r.Name == nil || r.Properties == nil || r.Properties.Priority == nil || r.Properties.Direction == nil || r.Properties.Access == nil || r.Properties.Protocol == nil {
			return nil, errf(http.StatusBadRequest, "InvalidRequestFormat", "Security rule must have a name, priority, direction, access and protocol.")
		}
		p := *r.Properties.Priority
		if p < 100 || p > 4096 {
			return nil, errf(http.StatusBadRequest, "SecurityRuleInvalidPriority", "Security rule %s has invalid Priority. Value provided: %d Allowed range 100-4096.", *r.Name, p)
		}
		key := fmt.Sprintf("%s/%d", *r.Properties.Direction, p)
		if seen[key] {
			return nil, errf(http.StatusBadRequest, "SecurityRuleConflict", "Security rule %s conflicts with another rule: two rules with the same priority %d and direction.", *r.Name, p)
		}
		seen[key] = true
		r.ID = strPtr(id + "/securityRules/" + *r.Name)
		r.Type = strPtr(nsgType + "/securityRules")
		r.Etag = etag()
		r.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	}
	in.ID, in.Name, in.Type, in.Etag = &id, &name, strPtr(nsgType), etag()
	in.Location = strPtr(normLocation(*in.Location))
	in.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	in.Properties.ResourceGUID = strPtr(newID())
	return &entry{ID: id, Type: nsgType, Model: mustJSON(in)}, nil
}

func ptrTo[T any](v T) *T { return &v }

func putVNet(s *Server, q *request, id, rg, name string, old *entry) (*entry, *armError) {
	var in armnetwork.VirtualNetwork
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	// Virtual network names are 2-64 characters (Azure's resource naming rules).
	if e := validName(name, 64, `^[a-zA-Z0-9][\w\.-]*[\w]$`, "virtual network"); e != nil {
		return nil, e
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if in.Properties == nil || in.Properties.AddressSpace == nil || len(in.Properties.AddressSpace.AddressPrefixes) == 0 {
		return nil, errf(http.StatusBadRequest, "InvalidAddressSpace", "The virtual network must have at least one address prefix.")
	}
	// Subnets sent inline are stored as child resources.
	for _, sn := range in.Properties.Subnets {
		if sn.Name == nil {
			return nil, errf(http.StatusBadRequest, "InvalidRequestFormat", "A subnet must have a name.")
		}
		sid := id + "/subnets/" + *sn.Name
		sn.ID, sn.Type, sn.Etag = &sid, strPtr(subnetType), etag()
		if sn.Properties == nil {
			sn.Properties = &armnetwork.SubnetPropertiesFormat{}
		}
		sn.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
		s.st.put(&entry{ID: sid, Type: subnetType, Model: mustJSON(sn), Created: s.nowLocked()})
	}
	in.Properties.Subnets = nil
	in.ID, in.Name, in.Type, in.Etag = &id, &name, strPtr(vnetType), etag()
	in.Location = strPtr(normLocation(*in.Location))
	in.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	in.Properties.ResourceGUID = strPtr(newID())
	return &entry{ID: id, Type: vnetType, Model: mustJSON(in)}, nil
}

func renderVNet(s *Server, e *entry) json.RawMessage {
	var v armnetwork.VirtualNetwork
	_ = json.Unmarshal(e.Model, &v)
	v.Properties.Subnets = []*armnetwork.Subnet{}
	for _, sn := range s.st.ofType(e.ID, subnetType) {
		var x armnetwork.Subnet
		_ = json.Unmarshal(renderSubnet(s, sn), &x)
		v.Properties.Subnets = append(v.Properties.Subnets, &x)
	}
	return mustJSON(v)
}

func renderSubnet(s *Server, e *entry) json.RawMessage {
	var sn armnetwork.Subnet
	_ = json.Unmarshal(e.Model, &sn)
	for _, n := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType) {
		var nic armnetwork.Interface
		_ = json.Unmarshal(n.Model, &nic)
		for _, c := range nic.Properties.IPConfigurations {
			if c.Properties.Subnet != nil && strings.EqualFold(*c.Properties.Subnet.ID, e.ID) {
				sn.Properties.IPConfigurations = append(sn.Properties.IPConfigurations, &armnetwork.IPConfiguration{ID: c.ID})
			}
		}
	}
	return mustJSON(sn)
}

func putSubnet(s *Server, q *request, id, _, name string, _ *entry) (*entry, *armError) {
	var in armnetwork.Subnet
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if in.Properties == nil || (in.Properties.AddressPrefix == nil && len(in.Properties.AddressPrefixes) == 0) {
		return nil, errf(http.StatusBadRequest, "NoAddressPrefixOrPoolProvided", "Subnet %s must have an address prefix.", name)
	}
	in.ID, in.Name, in.Type, in.Etag = &id, &name, strPtr(subnetType), etag()
	in.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	return &entry{ID: id, Type: subnetType, Model: mustJSON(in)}, nil
}

func putPIP(s *Server, q *request, id, _, name string, old *entry) (*entry, *armError) {
	var in armnetwork.PublicIPAddress
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if e := validName(name, 80, `^[a-zA-Z0-9]([\w\.-]*[\w])?$`, "public IP address"); e != nil {
		return nil, e
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if in.Properties == nil {
		in.Properties = &armnetwork.PublicIPAddressPropertiesFormat{}
	}
	if in.SKU == nil || in.SKU.Name == nil {
		in.SKU = &armnetwork.PublicIPAddressSKU{Name: ptrTo(armnetwork.PublicIPAddressSKUNameStandard)}
	}
	if *in.SKU.Name == armnetwork.PublicIPAddressSKUNameBasic {
		return nil, errf(http.StatusBadRequest, "BasicSkuPublicIpAddressCreationNotAllowed", "Basic SKU public IP addresses can no longer be created.")
	}
	if in.Properties.PublicIPAllocationMethod == nil {
		in.Properties.PublicIPAllocationMethod = ptrTo(armnetwork.IPAllocationMethodStatic)
	}
	if *in.Properties.PublicIPAllocationMethod != armnetwork.IPAllocationMethodStatic {
		return nil, errf(http.StatusBadRequest, "StandardSkuPublicIPAddressesMustBeStatic", "Standard sku publicIp %s must specify publicIPAllocationMethod as Static.", id)
	}
	if in.Properties.PublicIPAddressVersion == nil {
		in.Properties.PublicIPAddressVersion = ptrTo(armnetwork.IPVersionIPv4)
	}
	if old != nil {
		var prev armnetwork.PublicIPAddress
		_ = json.Unmarshal(old.Model, &prev)
		in.Properties.IPAddress = prev.Properties.IPAddress
		in.Properties.IPConfiguration = prev.Properties.IPConfiguration
	} else {
		n := s.st.NextIP
		s.st.NextIP++
		in.Properties.IPAddress = strPtr(fmt.Sprintf("127.77.%d.%d", (n/254)%256, n%254+1))
	}
	in.ID, in.Name, in.Type, in.Etag = &id, &name, strPtr(pipType), etag()
	in.Location = strPtr(normLocation(*in.Location))
	in.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	in.Properties.ResourceGUID = strPtr(newID())
	return &entry{ID: id, Type: pipType, Model: mustJSON(in)}, nil
}

func putNIC(s *Server, q *request, id, rg, name string, old *entry) (*entry, *armError) {
	var in armnetwork.Interface
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if e := validName(name, 80, `^[a-zA-Z0-9]([\w\.-]*[\w])?$`, "network interface"); e != nil {
		return nil, e
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if in.Properties == nil || len(in.Properties.IPConfigurations) == 0 {
		return nil, errf(http.StatusBadRequest, "NetworkInterfaceMustHaveAtLeastOneIpConfiguration", "Network interface %s must have at least one IP configuration.", id)
	}
	if in.Properties.NetworkSecurityGroup != nil {
		if in.Properties.NetworkSecurityGroup.ID == nil || s.st.get(*in.Properties.NetworkSecurityGroup.ID) == nil {
			return nil, errf(http.StatusBadRequest, "InvalidResourceReference", "Resource %s referenced by resource %s was not found.", deref(in.Properties.NetworkSecurityGroup.ID), id)
		}
	}
	nsub := 0
	for i, c := range in.Properties.IPConfigurations {
		if c.Properties == nil || c.Properties.Subnet == nil || c.Properties.Subnet.ID == nil || s.st.get(*c.Properties.Subnet.ID) == nil {
			ref := ""
			if c.Properties != nil && c.Properties.Subnet != nil {
				ref = deref(c.Properties.Subnet.ID)
			}
			return nil, errf(http.StatusBadRequest, "InvalidResourceReference", "Resource %s referenced by resource %s was not found.", ref, id)
		}
		// Linked access checks: using a subnet or public IP is its join action.
		if e := s.authorizeActionLocked(q, *c.Properties.Subnet.ID, subnetType+"/join/action"); e != nil {
			return nil, e
		}
		if c.Properties.PublicIPAddress != nil && c.Properties.PublicIPAddress.ID != nil {
			if e := s.authorizeActionLocked(q, *c.Properties.PublicIPAddress.ID, pipType+"/join/action"); e != nil {
				return nil, e
			}
		}
		if c.Name == nil {
			c.Name = strPtr(fmt.Sprintf("ipconfig%d", i+1))
		}
		if c.Properties.PublicIPAddress != nil {
			pid := deref(c.Properties.PublicIPAddress.ID)
			pe := s.st.get(pid)
			if pe == nil {
				return nil, errf(http.StatusBadRequest, "InvalidResourceReference", "Resource %s referenced by resource %s was not found.", pid, id)
			}
			if user := pipUser(s, pid); user != "" && !strings.EqualFold(user, id) {
				return nil, errf(http.StatusBadRequest, "PublicIPAddressInUse", "Resource %s is referencing public IP address %s that is already allocated to resource %s.", id, pid, user)
			}
		}
		c.ID = strPtr(id + "/ipConfigurations/" + *c.Name)
		c.Type = strPtr(nicType + "/ipConfigurations")
		c.Etag = etag()
		if c.Properties.PrivateIPAllocationMethod == nil {
			c.Properties.PrivateIPAllocationMethod = ptrTo(armnetwork.IPAllocationMethodDynamic)
		}
		nsub++
		c.Properties.PrivateIPAddress = strPtr(fmt.Sprintf("10.0.0.%d", 4+len(s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType))%250))
		if c.Properties.Primary == nil {
			c.Properties.Primary = ptrTo(i == 0)
		}
		c.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	}
	in.ID, in.Name, in.Type, in.Etag = &id, &name, strPtr(nicType), etag()
	in.Location = strPtr(normLocation(*in.Location))
	in.Properties.ProvisioningState = ptrTo(armnetwork.ProvisioningStateSucceeded)
	in.Properties.ResourceGUID = strPtr(newID())
	in.Properties.VirtualMachine = nil
	return &entry{ID: id, Type: nicType, Model: mustJSON(in)}, nil
}

func renderNIC(s *Server, e *entry) json.RawMessage {
	var nic armnetwork.Interface
	_ = json.Unmarshal(e.Model, &nic)
	if vmID := vmUsingNIC(s, e.ID); vmID != "" {
		nic.Properties.VirtualMachine = &armnetwork.SubResource{ID: &vmID}
	}
	return mustJSON(nic)
}

// renderPIP fills ipConfiguration with the IP configuration of the NIC
// using the address, as Azure does (clients tell attached from orphaned).
func renderPIP(s *Server, e *entry) json.RawMessage {
	var pip armnetwork.PublicIPAddress
	_ = json.Unmarshal(e.Model, &pip)
	if pip.Properties == nil {
		pip.Properties = &armnetwork.PublicIPAddressPropertiesFormat{}
	}
	pip.Properties.IPConfiguration = nil
	if nicID := pipUser(s, e.ID); nicID != "" {
		if n := s.st.get(nicID); n != nil {
			var nic armnetwork.Interface
			_ = json.Unmarshal(n.Model, &nic)
			for _, c := range nic.Properties.IPConfigurations {
				if c.Properties.PublicIPAddress != nil && strings.EqualFold(*c.Properties.PublicIPAddress.ID, e.ID) {
					pip.Properties.IPConfiguration = &armnetwork.IPConfiguration{ID: c.ID}
				}
			}
		}
	}
	return mustJSON(pip)
}

// pipUser returns the NIC using a public IP (under s.mu).
func pipUser(s *Server, pipID string) string {
	for _, n := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, nicType) {
		var nic armnetwork.Interface
		_ = json.Unmarshal(n.Model, &nic)
		for _, c := range nic.Properties.IPConfigurations {
			if c.Properties.PublicIPAddress != nil && strings.EqualFold(*c.Properties.PublicIPAddress.ID, pipID) {
				return n.ID
			}
		}
	}
	return ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
