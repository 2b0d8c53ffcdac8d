package arm

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"

	"github.com/mngr-azure/mngr/internal/azsim/vm"
)

// Azure Compute Gallery: a gallery holds image definitions, and each
// definition holds numbered versions. A version captured from a
// generalized VM is what new VMs name as imageReference.id.
const (
	galleryType      = "Microsoft.Compute/galleries"
	galleryImageType = "Microsoft.Compute/galleries/images"
	imageVersionType = "Microsoft.Compute/galleries/images/versions"
)

func init() {
	versions := &kind{typ: imageVersionType, put: putImageVersion, afterPut: captureVersion, canDelete: versionBusy, deleted: versionDeleted}
	images := &kind{typ: galleryImageType, put: putGalleryImage, canDelete: hasNested, children: map[string]*kind{"versions": versions}}
	// The nested kinds are registered too, so their cascades run when a
	// parent or the resource group goes (deleteEntry looks kinds up by type).
	register(versions)
	register(images)
	register(&kind{typ: galleryType, put: putGallery, canDelete: hasNested, children: map[string]*kind{"images": images}})
}

var (
	// galleryNameRE is what Azure accepts as a gallery name: letters,
	// digits, '_' and '.', not starting or ending with '.', at most 80.
	galleryNameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.]{0,78}[A-Za-z0-9_])?$`)
	// imageNameRE is an image definition name: letters, digits, '_', '-'
	// and '.', starting and ending with a letter or digit, at most 80.
	imageNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9])?$`)
	// versionNameRE is Major.Minor.Patch, each a 32-bit integer.
	versionNameRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)
)

// hasNested refuses to delete a gallery or image definition that still
// holds definitions or versions, as ARM refuses nested resources.
func hasNested(s *Server, e *entry) *armError {
	if len(s.st.under(e.ID)) > 0 {
		return errf(http.StatusConflict, "CannotDeleteResource", "Can not delete resource before nested resources are deleted.")
	}
	return nil
}

func putGallery(_ *Server, q *request, id, _, name string, old *entry) (*entry, *armError) {
	var in armcompute.Gallery
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if !galleryNameRE.MatchString(name) {
		return nil, invalidParam("galleryName", "The gallery name '%s' is invalid: use 1-80 letters, digits, '_' and '.', neither starting nor ending with '.'.", name)
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	var desc *string
	if in.Properties != nil {
		desc = in.Properties.Description
	}
	if old != nil {
		var cur armcompute.Gallery
		_ = json.Unmarshal(old.Model, &cur)
		cur.Tags = in.Tags
		cur.Properties.Description = desc
		return &entry{ID: id, Type: galleryType, Model: mustJSON(cur)}, nil
	}
	sub := strings.Split(id, "/")[2]
	out := armcompute.Gallery{ID: &id, Name: &name, Type: strPtr(galleryType), Location: strPtr(normLocation(*in.Location)), Tags: in.Tags,
		Properties: &armcompute.GalleryProperties{Description: desc,
			Identifier:        &armcompute.GalleryIdentifier{UniqueName: strPtr(sub + "-" + strings.ToUpper(name))},
			ProvisioningState: ptrTo(armcompute.GalleryProvisioningStateSucceeded)}}
	return &entry{ID: id, Type: galleryType, Model: mustJSON(out)}, nil
}

func putGalleryImage(_ *Server, q *request, id, _, name string, old *entry) (*entry, *armError) {
	var in armcompute.GalleryImage
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if !imageNameRE.MatchString(name) {
		return nil, invalidParam("galleryImageName", "The gallery image name '%s' is invalid: use 1-80 letters, digits, '_', '-' and '.', starting and ending with a letter or digit.", name)
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	p := in.Properties
	if p == nil || p.OSType == nil || p.OSState == nil || p.Identifier == nil {
		return nil, invalidParam("properties", "Required parameter 'osType', 'osState' or 'identifier' is missing (null).")
	}
	if old != nil {
		var cur armcompute.GalleryImage
		_ = json.Unmarshal(old.Model, &cur)
		c := cur.Properties
		if *c.OSType != *p.OSType || *c.OSState != *p.OSState || deref(c.Identifier.Publisher) != deref(p.Identifier.Publisher) ||
			deref(c.Identifier.Offer) != deref(p.Identifier.Offer) || deref(c.Identifier.SKU) != deref(p.Identifier.SKU) ||
			(p.HyperVGeneration != nil && *p.HyperVGeneration != *c.HyperVGeneration) {
			return nil, errf(http.StatusConflict, "PropertyChangeNotAllowed",
				"Changing property 'osType', 'osState', 'identifier' or 'hyperVGeneration' of gallery image '%s' is not allowed.", name)
		}
		cur.Tags = in.Tags
		c.Description = p.Description
		return &entry{ID: id, Type: galleryImageType, Model: mustJSON(cur)}, nil
	}
	if p.HyperVGeneration == nil {
		p.HyperVGeneration = ptrTo(armcompute.HyperVGenerationV1)
	}
	p.ProvisioningState = ptrTo(armcompute.GalleryProvisioningStateSucceeded)
	in.ID, in.Name, in.Type = &id, &name, strPtr(galleryImageType)
	in.Location = strPtr(normLocation(*in.Location))
	return &entry{ID: id, Type: galleryImageType, Model: mustJSON(in)}, nil
}

// putImageVersion checks a version captured from a VM: the source VM must
// exist, be stopped or deallocated and, for a Generalized definition, be
// generalized. The capture itself runs after the PUT (captureVersion).
func putImageVersion(s *Server, q *request, id, _, name string, old *entry) (*entry, *armError) {
	var in armcompute.GalleryImageVersion
	if e := decodeStrict(q.body, &in); e != nil {
		return nil, e
	}
	if !versionNameRE.MatchString(name) || !int32Parts(name) {
		return nil, invalidParam("galleryImageVersionName", "The gallery image version name '%s' is invalid: it must be Major.Minor.Patch, each a 32-bit integer.", name)
	}
	if e := commonChecks(in.Location, in.Tags); e != nil {
		return nil, e
	}
	if old != nil {
		var cur armcompute.GalleryImageVersion
		_ = json.Unmarshal(old.Model, &cur)
		if val(cur.Properties.ProvisioningState) == armcompute.GalleryProvisioningStateCreating {
			return nil, errf(http.StatusConflict, "OperationNotAllowed", "The gallery image version '%s' is still being created.", name)
		}
		cur.Tags = in.Tags
		return &entry{ID: id, Type: imageVersionType, Model: mustJSON(cur)}, nil
	}
	p := in.Properties
	src := ""
	if p != nil && p.StorageProfile != nil && p.StorageProfile.Source != nil {
		src = deref(p.StorageProfile.Source.VirtualMachineID)
		if src == "" {
			src = deref(p.StorageProfile.Source.ID)
		}
	}
	if src == "" {
		return nil, invalidParam("storageProfile.source", "A gallery image version needs a source: azsim captures only from a virtual machine (storageProfile.source.virtualMachineId).")
	}
	ve := s.st.get(src)
	if ve == nil || !strings.EqualFold(ve.Type, vmType) {
		return nil, errf(http.StatusNotFound, "NotFound", "The source virtual machine '%s' was not found.", src)
	}
	if e := s.authorizeActionLocked(q, ve.ID, vmType+"/read"); e != nil {
		return nil, e
	}
	parent := s.st.get(id[:strings.LastIndex(strings.ToLower(id), "/versions/")])
	var def armcompute.GalleryImage
	if parent != nil {
		_ = json.Unmarshal(parent.Model, &def)
	}
	power := s.observedPower(ve)
	if power != string(vm.PowerDeallocated) && power != string(vm.PowerStopped) {
		return nil, errf(http.StatusConflict, "OperationNotAllowed",
			"The source virtual machine '%s' must be stopped or deallocated before it is captured (it is %s).", src, power)
	}
	if def.Properties != nil && val(def.Properties.OSState) == armcompute.OperatingSystemStateTypesGeneralized && !ve.Generalized {
		return nil, errf(http.StatusBadRequest, "InvalidParameter",
			"The source virtual machine '%s' is not generalized, but gallery image '%s' holds generalized images: generalize the VM first. Target: 'storageProfile.source'.", src, deref(def.Name))
	}
	p.StorageProfile.Source.VirtualMachineID = strPtr(ve.ID)
	p.StorageProfile.OSDiskImage = &armcompute.GalleryOSDiskImage{HostCaching: ptrTo(armcompute.HostCachingReadWrite), SizeInGB: ptrTo(int32(30))}
	if p.PublishingProfile == nil {
		p.PublishingProfile = &armcompute.GalleryImageVersionPublishingProfile{}
	}
	now := s.nowLocked()
	p.PublishingProfile.PublishedDate = &now
	p.PublishingProfile.TargetRegions = []*armcompute.TargetRegion{{Name: strPtr(DefaultLocation), RegionalReplicaCount: ptrTo(int32(1))}}
	p.ProvisioningState = ptrTo(armcompute.GalleryProvisioningStateCreating)
	in.ID, in.Name, in.Type = &id, &name, strPtr(imageVersionType)
	in.Location = strPtr(normLocation(*in.Location))
	s.captures[strings.ToLower(id)] = ve.ID
	return &entry{ID: id, Type: imageVersionType, Model: mustJSON(in)}, nil
}

// val is *p, or the zero value for nil.
func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func int32Parts(v string) bool {
	for _, part := range strings.Split(v, ".") {
		if _, err := strconv.ParseInt(part, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// captureVersion runs the backend capture of a new version in the
// background, with the PUT's operation pending until it ends (under s.mu).
func captureVersion(s *Server, e *entry, op *operation) {
	src, ok := s.captures[strings.ToLower(e.ID)]
	if !ok {
		return
	}
	delete(s.captures, strings.ToLower(e.ID))
	im, ok := s.opts.Backend.(vm.Imager)
	if !ok {
		setVersionState(e, armcompute.GalleryProvisioningStateSucceeded)
		return
	}
	op.Pending = true
	s.bootWG.Add(1)
	go func() {
		defer s.bootWG.Done()
		err := im.Capture(ctxDetached(), src, e.ID)
		s.mu.Lock()
		defer s.mu.Unlock()
		op.Pending = false
		cur := s.st.get(e.ID)
		if cur == nil {
			// Deleted while capturing is refused; a restart forgets captures.
			_ = im.DeleteImage(ctxDetached(), e.ID)
			return
		}
		if err != nil {
			setVersionState(cur, armcompute.GalleryProvisioningStateFailed)
			op.Err = errf(http.StatusInternalServerError, "InternalOperationError", "The capture of the image version failed: %v", err)
		} else {
			setVersionState(cur, armcompute.GalleryProvisioningStateSucceeded)
		}
		_ = s.saveLocked()
	}()
}

func setVersionState(e *entry, st armcompute.GalleryProvisioningState) {
	var v armcompute.GalleryImageVersion
	_ = json.Unmarshal(e.Model, &v)
	v.Properties.ProvisioningState = &st
	e.Model = mustJSON(v)
}

// versionBusy refuses to delete a version whose capture still runs.
func versionBusy(_ *Server, e *entry) *armError {
	var v armcompute.GalleryImageVersion
	_ = json.Unmarshal(e.Model, &v)
	if v.Properties != nil && val(v.Properties.ProvisioningState) == armcompute.GalleryProvisioningStateCreating {
		return errf(http.StatusConflict, "OperationNotAllowed", "The gallery image version '%s' is being created; retry after the create has completed.", deref(v.Name))
	}
	return nil
}

// versionDeleted removes the captured disk from the backend.
func versionDeleted(s *Server, e *entry) {
	if im, ok := s.opts.Backend.(vm.Imager); ok {
		_ = im.DeleteImage(ctxDetached(), e.ID)
	}
}

// resolveImageLocked turns a VM's imageReference.id into the image version
// it boots from (under s.mu): a version id names itself; an image
// definition id names its newest succeeded version not excluded from latest.
func (s *Server) resolveImageLocked(id string) (string, *armError) {
	e := s.st.get(id)
	if e == nil {
		return "", errf(http.StatusNotFound, "NotFound", "The platform image or gallery image '%s' was not found.", id)
	}
	switch {
	case strings.EqualFold(e.Type, imageVersionType):
		var v armcompute.GalleryImageVersion
		_ = json.Unmarshal(e.Model, &v)
		if val(v.Properties.ProvisioningState) != armcompute.GalleryProvisioningStateSucceeded {
			return "", errf(http.StatusConflict, "OperationNotAllowed", "The gallery image version '%s' is not ready (%s).", id, val(v.Properties.ProvisioningState))
		}
		return e.ID, nil
	case strings.EqualFold(e.Type, galleryImageType):
		best, bestKey := "", [3]int64{-1, -1, -1}
		for _, ve := range s.st.ofType(e.ID, imageVersionType) {
			var v armcompute.GalleryImageVersion
			_ = json.Unmarshal(ve.Model, &v)
			if val(v.Properties.ProvisioningState) != armcompute.GalleryProvisioningStateSucceeded ||
				(v.Properties.PublishingProfile != nil && val(v.Properties.PublishingProfile.ExcludeFromLatest)) {
				continue
			}
			var k [3]int64
			for i, part := range strings.Split(deref(v.Name), ".") {
				k[i], _ = strconv.ParseInt(part, 10, 64)
			}
			if k[0] > bestKey[0] || k[0] == bestKey[0] && (k[1] > bestKey[1] || k[1] == bestKey[1] && k[2] > bestKey[2]) {
				best, bestKey = ve.ID, k
			}
		}
		if best == "" {
			return "", errf(http.StatusNotFound, "NotFound", "The gallery image '%s' has no version to use as the latest.", id)
		}
		return best, nil
	}
	return "", invalidParam("imageReference.id", "The image reference '%s' names neither a gallery image nor a gallery image version.", id)
}
