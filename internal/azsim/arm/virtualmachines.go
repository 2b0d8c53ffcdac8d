package arm

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v9"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

const (
	vmType   = "Microsoft.Compute/virtualMachines"
	diskType = "Microsoft.Compute/disks"
	// nicReservation is how long Azure keeps a NIC reserved after a failed VM create.
	nicReservationPeriod = 180 * time.Second
)

func init() {
	register(&kind{typ: vmType, put: putVM, afterPut: bootVM, failed: vmFailed, canDelete: vmBusy, deleted: vmDeleted, action: vmAction, render: renderVM})
	register(&kind{typ: diskType, put: func(*Server, *request, string, string, string, *entry) (*entry, *armError) {
		return nil, errf(http.StatusBadRequest, "OperationNotAllowed", "azsim creates managed disks only as VM OS disks.")
	}, canDelete: func(s *Server, e *entry) *armError {
		for _, v := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, vmType) {
			var m armcompute.VirtualMachine
			_ = json.Unmarshal(v.Model, &m)
			if d := m.Properties.StorageProfile.OSDisk.ManagedDisk; d != nil && strings.EqualFold(deref(d.ID), e.ID) {
				return errf(http.StatusConflict, "OperationNotAllowed", "Disk %s is attached to VM %s.", e.ID, v.ID)
			}
		}
		return nil
	}})
}

var (
	vmNameRE       = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\._-]*[a-zA-Z0-9_])?$`)
	computerNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9\.-]*[a-zA-Z0-9])?$`)
	allDigitsRE    = regexp.MustCompile(`^[0-9]+$`)
)

func invalidParam(target, format string, a ...any) *armError {
	e := errf(http.StatusBadRequest, "InvalidParameter", format, a...)
	e.Message += " Target: '" + target + "'."
	e.Target = target
	return e
}

// reservedAdminNames are the admin user names Azure refuses, as the
// compute API's OSProfile.adminUsername documents them (the armcompute
// model comment on OSProfile.AdminUsername lists the same 32).
var reservedAdminNames = []string{"administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123", "a",
	"actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner", "root", "server", "sql", "support",
	"support_388945a0", "sys", "test2", "test3", "user4", "user5"}

// dataDiskOnlyTypes are the storage types Azure allows only on data disks
// (the compute API's StorageAccountTypes: "UltraSSD_LRS can only be used
// with data disks"; Premium SSD v2 likewise cannot be an OS disk).
var dataDiskOnlyTypes = []armcompute.StorageAccountTypes{armcompute.StorageAccountTypesUltraSSDLRS, armcompute.StorageAccountTypesPremiumV2LRS}

// checkOSProfile refuses what Azure refuses in a Linux VM's admin user,
// SSH key paths and OS disk type, with its InvalidParameter targets.
func checkOSProfile(p *armcompute.VirtualMachineProperties) *armError {
	user := deref(p.OSProfile.AdminUsername)
	for _, r := range reservedAdminNames {
		if strings.EqualFold(user, r) {
			return invalidParam("adminUsername", "The Admin Username specified is not allowed.")
		}
	}
	if user == "" || len(user) > 64 {
		return invalidParam("adminUsername", "The Admin Username must be 1-64 characters long for a Linux VM.")
	}
	if lc := p.OSProfile.LinuxConfiguration; lc != nil && lc.SSH != nil {
		want := "/home/" + user + "/.ssh/authorized_keys"
		for _, k := range lc.SSH.PublicKeys {
			if k != nil && k.Path != nil && *k.Path != want {
				return invalidParam("linuxConfiguration.ssh.publicKeys.path",
					"Destination path for SSH public keys is currently limited to its default value %s due to a known issue in Linux provisioning agent.", want)
			}
		}
	}
	if od := p.StorageProfile.OSDisk; od != nil && od.ManagedDisk != nil && od.ManagedDisk.StorageAccountType != nil {
		for _, t := range dataDiskOnlyTypes {
			if *od.ManagedDisk.StorageAccountType == t {
				return invalidParam("osDisk.managedDisk.storageAccountType",
					"Storage account type %s is supported only for data disks; it cannot be used for the OS disk.", t)
			}
		}
	}
	return nil
}

// vmUsingNIC returns the VM that references a NIC (under s.mu).
func vmUsingNIC(s *Server, nicID string) string {
	for _, v := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, vmType) {
		var m armcompute.VirtualMachine
		_ = json.Unmarshal(v.Model, &m)
		for _, n := range m.Properties.NetworkProfile.NetworkInterfaces {
			if strings.EqualFold(deref(n.ID), nicID) {
				return v.ID
			}
		}
	}
	return ""
}

// reserveNICs reserves the NICs named in a failed VM create body (under s.mu).
func (s *Server) reserveNICs(vmID string, in *armcompute.VirtualMachine) {
	if in.Properties == nil || in.Properties.NetworkProfile == nil {
		return
	}
	for _, n := range in.Properties.NetworkProfile.NetworkInterfaces {
		if n.ID != nil && s.st.get(*n.ID) != nil {
			s.st.NICReservations[strings.ToLower(*n.ID)] = nicReservation{VMID: vmID, Until: s.nowLocked().Add(nicReservationPeriod)}
		}
	}
	_ = s.saveLocked()
}

// failVMCreate reserves the request's NICs when a VM create fails after
// validation, as Azure does (a failed create keeps them 180 s). Injected
// faults on a VM PUT go through here too.
func (s *Server) failVMCreate(path string, body []byte) {
	segs := splitPath(path)
	if len(segs) != 8 || !strings.EqualFold(segs[6], "virtualMachines") {
		return
	}
	var in armcompute.VirtualMachine
	if json.Unmarshal(body, &in) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := "/subscriptions/" + s.opts.SubscriptionID + "/resourceGroups/" + segs[3] + "/providers/" + vmType + "/" + segs[7]
	if s.st.get(id) == nil {
		s.reserveNICs(id, &in)
	}
}

func putVM(s *Server, q *request, id, rg, name string, old *entry) (*entry, *armError) {
	var in armcompute.VirtualMachine
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if len(name) > 64 || !vmNameRE.MatchString(name) {
		return nil, invalidParam("vmName", "The VM name '%s' is invalid: it must be 1-64 characters of letters, digits, '.', '-' and '_', start with a letter or digit and not end with '.' or '-'.", name)
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	p := in.Properties
	if p == nil || p.HardwareProfile == nil || p.HardwareProfile.VMSize == nil {
		return nil, invalidParam("vmSize", "The value of parameter hardwareProfile.vmSize is invalid.")
	}
	z, ok := findSize(string(*p.HardwareProfile.VMSize))
	if !ok {
		return nil, invalidParam("vmSize", "The requested VM size %s is not available in the current region. The sizes available in the current region are: %s.", *p.HardwareProfile.VMSize, sizeNames())
	}
	if z.restricted {
		return nil, errf(http.StatusConflict, "SkuNotAvailable",
			"The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: %s' is currently not available in location '%s'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.", z.name, DefaultLocation)
	}
	if isSpot(&in) && !z.spot {
		// A size Azure does not sell as Spot (LowPriorityCapable=False: the
		// B-series and Promo sizes) answers as the Spot error table at
		// learn.microsoft.com/azure/virtual-machines/error-codes-spot has
		// it: SkuNotAvailable, a 409 Conflict (the status
		// Azure/azure-powershell#12007 shows for such a request).
		return nil, errf(http.StatusConflict, "SkuNotAvailable",
			"The requested tier for resource '%s' is currently not available in location '%s' for subscription '%s'. Please try another tier or deploy to a different location.",
			id, DefaultLocation, s.opts.SubscriptionID)
	}
	if old == nil && p.StorageProfile != nil {
		// Azure refuses, before it makes anything, a size whose
		// HyperVGenerations lack the image's generation (400 BadRequest).
		if gen := imageGeneration(p.StorageProfile.ImageReference); gen != "" && !z.bootsGeneration(gen) {
			n := strings.TrimPrefix(gen, "V")
			return nil, errf(http.StatusBadRequest, "BadRequest",
				"The selected VM size '%s' cannot boot Hypervisor Generation '%s'. If this was a Create operation please check that the Hypervisor Generation of the Image matches the Hypervisor Generation of the selected VM Size. If this was an Update operation please select a Hypervisor Generation '%s' VM Size. For more information, see https://aka.ms/azuregen2vm",
				z.name, n, n)
		}
	}
	if old != nil && old.Power == string(vm.PowerStarting) {
		return nil, vmProvisioning(name, "update")
	}
	if old != nil {
		// Updates keep everything the create decided; only tags and size may change.
		var cur armcompute.VirtualMachine
		_ = json.Unmarshal(old.Model, &cur)
		cur.Tags = in.Tags
		cur.Properties.HardwareProfile = p.HardwareProfile
		return &entry{ID: id, Type: vmType, Model: mustJSON(cur), Power: old.Power, BillingSince: old.BillingSince}, nil
	}
	if p.OSProfile == nil || p.OSProfile.AdminUsername == nil || p.StorageProfile == nil || p.StorageProfile.ImageReference == nil {
		return nil, invalidParam("osProfile", "Required parameter 'osProfile', 'adminUsername' or 'storageProfile.imageReference' is missing (null).")
	}
	if e := checkOSProfile(p); e != nil {
		return nil, e
	}
	image := ""
	if ref := p.StorageProfile.ImageReference; ref.ID != nil {
		var aerr *armError
		if image, aerr = s.resolveImageLocked(*ref.ID); aerr != nil {
			return nil, aerr
		}
		if aerr := s.authorizeActionLocked(q, image, imageVersionType+"/read"); aerr != nil {
			return nil, aerr
		}
	}
	cn := name
	if p.OSProfile.ComputerName != nil {
		cn = *p.OSProfile.ComputerName
	}
	if len(cn) > 64 || !computerNameRE.MatchString(cn) || allDigitsRE.MatchString(cn) {
		return nil, invalidParam("computerName", "The supplied computer name '%s' is invalid: Linux computer names are 1-64 letters, digits, '.' and '-', cannot be entirely numeric and cannot start or end with '.' or '-'.", cn)
	}
	p.OSProfile.ComputerName = &cn
	if p.OSProfile.CustomData != nil {
		if _, err := base64.StdEncoding.DecodeString(*p.OSProfile.CustomData); err != nil {
			return nil, invalidParam("customData", "The value of parameter customData is invalid: not base64.")
		}
	}
	if p.NetworkProfile == nil || len(p.NetworkProfile.NetworkInterfaces) == 0 {
		return nil, invalidParam("networkProfile", "Required parameter 'networkProfile' is missing (null).")
	}
	now := s.nowLocked()
	for _, n := range p.NetworkProfile.NetworkInterfaces {
		nid := deref(n.ID)
		if s.st.get(nid) == nil {
			return nil, errf(http.StatusNotFound, "NotFound", "Resource %s not found.", nid)
		}
		if e := s.authorizeActionLocked(q, nid, nicType+"/join/action"); e != nil {
			return nil, e
		}
		if user := vmUsingNIC(s, nid); user != "" {
			return nil, errf(http.StatusBadRequest, "NicInUse", "Network Interface %s is used by existing Virtual Machine %s.", nid, user)
		}
		if r, ok := s.st.NICReservations[strings.ToLower(nid)]; ok && now.Before(r.Until) && !strings.EqualFold(r.VMID, id) {
			return nil, errf(http.StatusBadRequest, "NicReservedForAnotherVm",
				"Nic(s) in request is reserved for another Virtual Machine for 180 seconds. Please provide another nic(s) or retry after 180 seconds. Reserved VM: %s", r.VMID)
		}
	}
	if e := s.checkQuota(z, isSpot(&in)); e != nil {
		s.reserveNICs(id, &in)
		return nil, e
	}
	if e := s.bindIdentitiesLocked(q, &in); e != nil {
		return nil, e
	}
	// The OS disk becomes a managed disk resource.
	od := p.StorageProfile.OSDisk
	if od == nil {
		od = &armcompute.OSDisk{CreateOption: ptrTo(armcompute.DiskCreateOptionTypesFromImage)}
		p.StorageProfile.OSDisk = od
	}
	if od.Name == nil {
		od.Name = strPtr(name + "_OsDisk_1_" + strings.ReplaceAll(newID(), "-", ""))
	}
	if od.DeleteOption == nil {
		od.DeleteOption = ptrTo(armcompute.DiskDeleteOptionTypesDetach)
	}
	od.OSType = ptrTo(armcompute.OperatingSystemTypesLinux)
	if od.DiskSizeGB == nil {
		od.DiskSizeGB = ptrTo(int32(30))
	}
	diskID := "/subscriptions/" + s.opts.SubscriptionID + "/resourceGroups/" + rg + "/providers/" + diskType + "/" + *od.Name
	if od.ManagedDisk == nil {
		od.ManagedDisk = &armcompute.ManagedDiskParameters{StorageAccountType: ptrTo(armcompute.StorageAccountTypesPremiumLRS)}
	}
	od.ManagedDisk.ID = &diskID
	disk := armcompute.Disk{ID: &diskID, Name: od.Name, Type: strPtr(diskType), Location: strPtr(DefaultLocation), ManagedBy: &id,
		SKU:        &armcompute.DiskSKU{Name: ptrTo(armcompute.DiskStorageAccountTypes(*od.ManagedDisk.StorageAccountType))},
		Properties: &armcompute.DiskProperties{DiskSizeGB: od.DiskSizeGB, OSType: od.OSType, ProvisioningState: strPtr("Succeeded"), DiskState: ptrTo(armcompute.DiskStateAttached)}}
	s.st.put(&entry{ID: diskID, Type: diskType, Model: mustJSON(disk), Created: now})
	for _, n := range p.NetworkProfile.NetworkInterfaces {
		if n.Properties == nil {
			n.Properties = &armcompute.NetworkInterfaceReferenceProperties{}
		}
		if n.Properties.DeleteOption == nil {
			n.Properties.DeleteOption = ptrTo(armcompute.DeleteOptionsDetach)
		}
	}
	p.VMID = strPtr(newID())
	p.TimeCreated = &now
	p.ProvisioningState = strPtr("Succeeded")
	in.ID, in.Name, in.Type = &id, &name, strPtr(vmType)
	in.Location = strPtr(normLocation(*in.Location))
	delete(s.st.NICReservations, strings.ToLower(deref(p.NetworkProfile.NetworkInterfaces[0].ID)))
	spec := s.vmSpec(id, &in)
	spec.Image = image
	if _, instant := s.opts.Backend.(vm.None); instant {
		return &entry{ID: id, Type: vmType, Model: mustJSON(in), Power: string(vm.PowerRunning), BillingSince: &now}, nil
	}
	// A real machine boots after the PUT has answered, as on Azure: the VM
	// is "Creating" and its operation in progress until the backend is done
	// (bootVM), and nothing else waits on the server lock meanwhile.
	p.ProvisioningState = strPtr("Creating")
	s.boots[strings.ToLower(id)] = bootJob{spec: spec, diskID: diskID}
	return &entry{ID: id, Type: vmType, Model: mustJSON(in), Power: string(vm.PowerStarting)}, nil
}

// bootJob is a VM create waiting for its machine.
type bootJob struct {
	spec   vm.Spec
	diskID string
}

// bootVM starts the backend boot a putVM queued, in the background, with
// the PUT's operation pending until it ends (under s.mu).
func bootVM(s *Server, e *entry, op *operation) {
	job, ok := s.boots[strings.ToLower(e.ID)]
	if !ok {
		return
	}
	delete(s.boots, strings.ToLower(e.ID))
	op.Pending = true
	s.bootWG.Add(1)
	go func() {
		defer s.bootWG.Done()
		err := s.opts.Backend.Create(ctxDetached(), job.spec)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.finishBoot(e.ID, job, op, err)
	}()
}

// finishBoot records the end of a boot (under s.mu): the VM runs and bills,
// or it is gone with its disk and its NIC reserved, as when Azure fails a
// create, and the operation fails with VMStartFailed.
func (s *Server) finishBoot(id string, job bootJob, op *operation, err error) {
	op.Pending = false
	cur := s.st.get(id)
	if cur == nil || cur.Power != string(vm.PowerStarting) {
		// Deleted while booting is refused, and a restart of azsim forgets
		// boots; a machine without its VM must not stay behind.
		if err == nil && cur == nil {
			_ = s.opts.Backend.Delete(ctxDetached(), id)
		}
		return
	}
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(cur.Model, &v)
	if err != nil {
		s.st.del(job.diskID)
		s.reserveNICs(id, &v)
		s.st.del(id)
		op.Err = errf(http.StatusInternalServerError, "VMStartFailed", "The VM could not be created: %v", err)
	} else {
		v.Properties.ProvisioningState = strPtr("Succeeded")
		now := s.nowLocked()
		cur.Model, cur.Power, cur.BillingSince = mustJSON(v), string(vm.PowerRunning), &now
	}
	_ = s.saveLocked()
}

// vmFailed leaves a VM as Azure leaves one whose accepted create then
// failed (AllocationFailed, OSProvisioningTimedOut): provisioningState
// Failed, no machine, and its NIC, OS disk and public IP still held until
// the VM is deleted (under s.mu).
func vmFailed(s *Server, e *entry) json.RawMessage {
	delete(s.boots, strings.ToLower(e.ID))
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	v.Properties.ProvisioningState = strPtr("Creating")
	answer := mustJSON(v)
	v.Properties.ProvisioningState = strPtr("Failed")
	s.stopBilling(e)
	e.Model, e.Power = mustJSON(v), string(vm.PowerStopped)
	return answer
}

// failInterruptedBoots marks VMs whose boot a previous run did not finish
// as failed provisioning (stopped), which a delete or mngr gc removes.
func (s *Server) failInterruptedBoots() {
	for _, e := range s.st.ofType("/subscriptions/"+s.opts.SubscriptionID, vmType) {
		if e.Power != string(vm.PowerStarting) {
			continue
		}
		var v armcompute.VirtualMachine
		_ = json.Unmarshal(e.Model, &v)
		v.Properties.ProvisioningState = strPtr("Failed")
		e.Model, e.Power = mustJSON(v), string(vm.PowerStopped)
	}
}

// vmBusy refuses to delete a VM whose machine is still booting.
func vmBusy(_ *Server, e *entry) *armError {
	if e.Power == string(vm.PowerStarting) {
		return vmProvisioning(path.Base(e.ID), "delete")
	}
	return nil
}

func vmProvisioning(name, op string) *armError {
	return errf(http.StatusConflict, "OperationNotAllowed",
		"Operation '%s' is not allowed on VM '%s' since the VM is being provisioned. Retry after the create has completed.", op, name)
}

func sizeNames() string {
	var n []string
	for _, z := range vmSizes {
		if !z.restricted {
			n = append(n, z.name)
		}
	}
	return strings.Join(n, ",")
}

// vmSpec builds what the backend needs (under s.mu).
func (s *Server) vmSpec(id string, v *armcompute.VirtualMachine) vm.Spec {
	p := v.Properties
	spec := vm.Spec{ResourceID: id, Name: deref(v.Name)}
	if p.StorageProfile != nil && p.StorageProfile.ImageReference != nil && p.StorageProfile.ImageReference.ID != nil {
		// A start keeps the disk the create made; only a machine whose
		// disk is gone boots again, from the image the create resolved.
		if img, aerr := s.resolveImageLocked(*p.StorageProfile.ImageReference.ID); aerr == nil {
			spec.Image = img
		}
	}
	if p.OSProfile != nil {
		spec.ComputerName = deref(p.OSProfile.ComputerName)
		spec.AdminUser = deref(p.OSProfile.AdminUsername)
		if p.OSProfile.CustomData != nil {
			spec.CustomData, _ = base64.StdEncoding.DecodeString(*p.OSProfile.CustomData)
		}
		if lc := p.OSProfile.LinuxConfiguration; lc != nil && lc.SSH != nil {
			for _, k := range lc.SSH.PublicKeys {
				spec.SSHPublicKeys = append(spec.SSHPublicKeys, deref(k.KeyData))
			}
		}
	}
	if v.Identity != nil {
		spec.PrincipalID = deref(v.Identity.PrincipalID)
		for rid, u := range v.Identity.UserAssignedIdentities {
			if u != nil {
				spec.UserIdentities = append(spec.UserIdentities, vm.Identity{ResourceID: rid, ClientID: deref(u.ClientID), PrincipalID: deref(u.PrincipalID)})
			}
		}
		sort.Slice(spec.UserIdentities, func(i, j int) bool { return spec.UserIdentities[i].ResourceID < spec.UserIdentities[j].ResourceID })
	}
	for _, n := range p.NetworkProfile.NetworkInterfaces {
		ne := s.st.get(deref(n.ID))
		if ne == nil {
			continue
		}
		var nic armnetwork.Interface
		_ = json.Unmarshal(ne.Model, &nic)
		for _, c := range nic.Properties.IPConfigurations {
			if c.Properties.PublicIPAddress != nil {
				if pe := s.st.get(deref(c.Properties.PublicIPAddress.ID)); pe != nil {
					var pip armnetwork.PublicIPAddress
					_ = json.Unmarshal(pe.Model, &pip)
					spec.PublicIP = deref(pip.Properties.IPAddress)
				}
			}
		}
	}
	return spec
}

// stopBilling accumulates the VM's billed seconds (under s.mu).
func (s *Server) stopBilling(e *entry) {
	if e.BillingSince != nil {
		s.st.BilledSeconds += s.nowLocked().Sub(*e.BillingSince).Seconds()
		e.BillingSince = nil
	}
}

func vmDeleted(s *Server, e *entry) {
	s.stopBilling(e)
	_ = s.opts.Backend.Delete(ctxDetached(), e.ID)
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	p := v.Properties
	if od := p.StorageProfile.OSDisk; od != nil && od.ManagedDisk != nil {
		if de := s.st.get(deref(od.ManagedDisk.ID)); de != nil {
			if od.DeleteOption != nil && *od.DeleteOption == armcompute.DiskDeleteOptionTypesDelete {
				s.st.del(de.ID)
			} else {
				var d armcompute.Disk
				_ = json.Unmarshal(de.Model, &d)
				d.ManagedBy = nil
				d.Properties.DiskState = ptrTo(armcompute.DiskStateUnattached)
				de.Model = mustJSON(d)
			}
		}
	}
	for _, n := range p.NetworkProfile.NetworkInterfaces {
		if n.Properties == nil || n.Properties.DeleteOption == nil || *n.Properties.DeleteOption != armcompute.DeleteOptionsDelete {
			continue
		}
		ne := s.st.get(deref(n.ID))
		if ne == nil {
			continue
		}
		var nic armnetwork.Interface
		_ = json.Unmarshal(ne.Model, &nic)
		s.st.del(ne.ID)
		for _, c := range nic.Properties.IPConfigurations {
			pip := c.Properties.PublicIPAddress
			if pip != nil && pip.Properties != nil && pip.Properties.DeleteOption != nil && *pip.Properties.DeleteOption == armnetwork.DeleteOptionsDelete {
				s.st.del(deref(pip.ID))
			}
		}
	}
}

// observedPower asks the backend for the machine's state (under s.mu).
func (s *Server) observedPower(e *entry) string {
	if e.Power == string(vm.PowerRunning) {
		if st, ok, err := s.opts.Backend.Observe(ctxDetached(), e.ID); err == nil && ok {
			return string(st)
		}
	}
	return e.Power
}

func (s *Server) instanceView(e *entry) *armcompute.VirtualMachineInstanceView {
	power := s.observedPower(e)
	display := map[string]string{"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated",
		"starting": "VM starting", "stopping": "VM stopping", "deallocating": "VM deallocating"}[power]
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	return &armcompute.VirtualMachineInstanceView{
		ComputerName: v.Properties.OSProfile.ComputerName, OSName: strPtr("debian"), OSVersion: strPtr("12"),
		Statuses: []*armcompute.InstanceViewStatus{
			{Code: strPtr("ProvisioningState/" + strings.ToLower(deref(v.Properties.ProvisioningState))), Level: ptrTo(armcompute.StatusLevelTypesInfo),
				DisplayStatus: strPtr("Provisioning " + strings.ToLower(deref(v.Properties.ProvisioningState))), Time: v.Properties.TimeCreated},
			{Code: strPtr("PowerState/" + power), Level: ptrTo(armcompute.StatusLevelTypesInfo), DisplayStatus: strPtr(display)},
		},
	}
}

func renderVM(_ *Server, e *entry) json.RawMessage { return e.Model }

// withInstanceView renders a VM with properties.instanceView (under s.mu).
func (s *Server) withInstanceView(e *entry) json.RawMessage {
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	v.Properties.InstanceView = s.instanceView(e)
	return mustJSON(v)
}

func vmAction(s *Server, w http.ResponseWriter, q *request, e *entry, action string) *armError {
	if action == "$expand" || action == "instanceview" {
		if q.r.Method != http.MethodGet {
			return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
		}
		if action == "$expand" {
			if !strings.EqualFold(q.r.URL.Query().Get("$expand"), "instanceView") {
				return invalidParam("$expand", "The value '%s' of parameter $expand is invalid.", q.r.URL.Query().Get("$expand"))
			}
			writeJSON(w, http.StatusOK, s.withInstanceView(e))
			return nil
		}
		writeJSON(w, http.StatusOK, mustJSON(s.instanceView(e)))
		return nil
	}
	if q.r.Method != http.MethodPost {
		return errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested method is not allowed.")
	}
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	if e.Power == string(vm.PowerStarting) {
		return vmProvisioning(deref(v.Name), action)
	}
	ctx := ctxDetached()
	now := s.nowLocked()
	switch action {
	case "deallocate":
		if err := s.opts.Backend.Deallocate(ctx, e.ID); err != nil {
			return errf(http.StatusInternalServerError, "InternalExecutionError", "deallocate: %v", err)
		}
		s.stopBilling(e)
		e.Power = string(vm.PowerDeallocated)
	case "poweroff":
		if e.Power == string(vm.PowerDeallocated) {
			return errf(http.StatusConflict, "OperationNotAllowed", "Operation 'powerOff' is not allowed on VM '%s' since the VM is deallocated.", deref(v.Name))
		}
		if err := s.opts.Backend.PowerOff(ctx, e.ID); err != nil {
			return errf(http.StatusInternalServerError, "InternalExecutionError", "power off: %v", err)
		}
		e.Power = string(vm.PowerStopped)
	case "generalize":
		if e.Power != string(vm.PowerDeallocated) && e.Power != string(vm.PowerStopped) {
			return errf(http.StatusConflict, "OperationNotAllowed",
				"Operation 'generalize' is not allowed on VM '%s' since the VM is running. Stop or deallocate the VM first.", deref(v.Name))
		}
		e.Generalized = true
		if err := s.saveLocked(); err != nil {
			return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	case "start", "restart":
		if e.Generalized {
			return errf(http.StatusConflict, "OperationNotAllowed", "Operation '%s' is not allowed on VM '%s' since the VM is generalized.", action, deref(v.Name))
		}
		if action == "restart" && e.Power != string(vm.PowerRunning) {
			return errf(http.StatusConflict, "OperationNotAllowed", "Operation 'restart' is not allowed on VM '%s' since the VM is not running.", deref(v.Name))
		}
		if e.Power == string(vm.PowerDeallocated) {
			z, _ := findSize(string(*v.Properties.HardwareProfile.VMSize))
			if aerr := s.checkQuota(z, isSpot(&v)); aerr != nil {
				return aerr
			}
		}
		if err := s.opts.Backend.Start(ctx, s.vmSpec(e.ID, &v)); err != nil {
			return errf(http.StatusInternalServerError, "VMStartFailed", "start: %v", err)
		}
		if e.BillingSince == nil {
			e.BillingSince = &now
		}
		e.Power = string(vm.PowerRunning)
	default:
		return errf(http.StatusNotFound, "NotFound", "The action '%s' is not supported on virtual machines.", action)
	}
	if err := s.saveLocked(); err != nil {
		return errf(http.StatusInternalServerError, "InternalServerError", "%v", err)
	}
	s.startOp(w, "Microsoft.Compute", "", true)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// Evict deallocates (or deletes) a Spot VM as an eviction would.
func (s *Server) Evict(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.get(id)
	if e == nil || !strings.EqualFold(e.Type, vmType) {
		return errf(http.StatusNotFound, "ResourceNotFound", "VM %s not found.", id)
	}
	var v armcompute.VirtualMachine
	_ = json.Unmarshal(e.Model, &v)
	if v.Properties.EvictionPolicy != nil && *v.Properties.EvictionPolicy == armcompute.VirtualMachineEvictionPolicyTypesDelete {
		s.deleteEntry(e)
	} else {
		_ = s.opts.Backend.Deallocate(ctxDetached(), e.ID)
		s.stopBilling(e)
		e.Power = string(vm.PowerDeallocated)
	}
	return s.saveLocked()
}
