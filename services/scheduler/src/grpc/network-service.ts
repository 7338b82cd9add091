import type { Logger } from 'pino';
import { networkV1 } from '@fjord/proto';
import type { Allocation, Allocator, Network, PhysicalNetworkUsage } from '@fjord/store';
import { unary } from './unary.js';

const emptyToUndefined = (value: string): string | undefined => (value === '' ? undefined : value);
const zeroToUndefined = (value: number): number | undefined => (value === 0 ? undefined : value);
const iso = (value: Date | string): string => (value instanceof Date ? value.toISOString() : value);

function toProtoNetwork(network: Network): networkV1.Network {
  return {
    id: network.id,
    tenant: network.tenant,
    name: network.name,
    physicalNetwork: network.physicalNetwork,
    vlan: network.vlan,
    cidr: network.cidr,
    gateway: network.gateway,
    allocated: network.allocated,
    capacity: network.capacity,
    createdAt: iso(network.createdAt),
  };
}

function toProtoAllocation(allocation: Allocation): networkV1.Allocation {
  return {
    tenant: allocation.tenant,
    network: allocation.network,
    address: allocation.address,
    owner: allocation.owner ?? '',
    idempotencyKey: allocation.idempotencyKey ?? '',
    createdAt: iso(allocation.createdAt),
  };
}

function toProtoPhysicalNetwork(physnet: PhysicalNetworkUsage): networkV1.PhysicalNetwork {
  return {
    name: physnet.name,
    vlanRanges: physnet.vlanRanges.split(','),
    reservedVlans: physnet.reservedVlans,
    vlansInUse: physnet.vlansInUse,
    vlansTotal: physnet.vlansTotal,
  };
}

/** The gRPC NetworkService: translates protobuf to the allocator's domain calls and back. */
export function networkService(allocator: Allocator, log: Logger): networkV1.NetworkServiceServer {
  const handle = <Req, Res>(method: string, fn: (request: Req) => Promise<Res>) => unary(log, method, fn);
  return {
    createNetwork: handle('CreateNetwork', async (req: networkV1.CreateNetworkRequest) => {
      const network = await allocator.createNetwork({
        tenant: req.tenant,
        name: req.name,
        physicalNetwork: req.physicalNetwork,
        vlan: zeroToUndefined(req.vlan),
        cidr: emptyToUndefined(req.cidr),
        subnetPool: emptyToUndefined(req.subnetPool),
        prefixLength: zeroToUndefined(req.prefixLength),
      });
      log.info({ tenant: network.tenant, network: network.name, vlan: network.vlan, cidr: network.cidr }, 'network created');
      return { network: toProtoNetwork(network) };
    }),
    getNetwork: handle('GetNetwork', async (req: networkV1.GetNetworkRequest) => ({
      network: toProtoNetwork(await allocator.getNetwork(req.tenant, req.name)),
    })),
    listNetworks: handle('ListNetworks', async (req: networkV1.ListNetworksRequest) => ({
      networks: (await allocator.listNetworks(emptyToUndefined(req.tenant))).map(toProtoNetwork),
    })),
    deleteNetwork: handle('DeleteNetwork', async (req: networkV1.DeleteNetworkRequest) => {
      const { releasedAddresses } = await allocator.deleteNetwork(req.tenant, req.name, { force: req.force });
      log.info({ tenant: req.tenant, network: req.name, releasedAddresses }, 'network deleted');
      return { releasedAddresses };
    }),
    listPhysicalNetworks: handle('ListPhysicalNetworks', async () => ({
      physicalNetworks: (await allocator.listPhysicalNetworks()).map(toProtoPhysicalNetwork),
    })),
    allocateAddress: handle('AllocateAddress', async (req: networkV1.AllocateAddressRequest) => ({
      allocation: toProtoAllocation(
        await allocator.allocateAddress(req.tenant, req.network, {
          address: emptyToUndefined(req.address),
          owner: emptyToUndefined(req.owner),
          idempotencyKey: emptyToUndefined(req.idempotencyKey),
        }),
      ),
    })),
    allocateAddresses: handle('AllocateAddresses', async (req: networkV1.AllocateAddressesRequest) => ({
      allocations: (
        await allocator.allocateAddresses(req.tenant, req.network, req.count, {
          owner: emptyToUndefined(req.owner),
          idempotencyKey: emptyToUndefined(req.idempotencyKey),
        })
      ).map(toProtoAllocation),
    })),
    releaseAddress: handle('ReleaseAddress', async (req: networkV1.ReleaseAddressRequest) => {
      await allocator.releaseAddress(req.tenant, req.network, req.address);
      return {};
    }),
    listAllocations: handle('ListAllocations', async (req: networkV1.ListAllocationsRequest) => ({
      allocations: (await allocator.listAllocations(req.tenant, req.network)).map(toProtoAllocation),
    })),
    allocateRouterId: handle('AllocateRouterId', async (req: networkV1.AllocateRouterIdRequest) => ({
      routerId: (await allocator.allocateRouterId(req.tenant, req.network, emptyToUndefined(req.owner))).routerId,
    })),
    releaseRouterId: handle('ReleaseRouterId', async (req: networkV1.ReleaseRouterIdRequest) => {
      await allocator.releaseRouterId(req.tenant, req.network, req.routerId);
      return {};
    }),
  };
}
