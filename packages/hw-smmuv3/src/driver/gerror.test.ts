import { describe, expect, it } from 'vitest';
import { smmuHost } from '../__tests__/host.js';
import { cmdCfgiSte } from './cmds.js';

describe('the GERROR handler (arm_smmu_gerror_handler, __arm_smmu_cmdq_skip_err)', () => {
  it('turns an illegal command into a CMD_SYNC, acknowledges, and the batch completes', () => {
    const h = smmuHost();
    const consumed = h.hw.cmdq.stats.consumed;
    h.drv.smmu.issue([cmdCfgiSte(1, true), [0x7fn, 0n], cmdCfgiSte(2, true)]);
    expect(h.drv.smmu.cmdq.errors).toEqual([{ cons: expect.any(Number), error: 'CERROR_ILL', cmd: [0x7fn, 0n] }]);
    expect(h.drv.smmu.log.at(-1)).toBe('unexpected global error reported (0x00000001), this could be serious');
    // CFGI_STE, the CMD_SYNC that replaced the bad command, CFGI_STE, and the batch's CMD_SYNC
    expect(h.hw.cmdq.stats.consumed - consumed).toBe(4);
    expect(h.hw.cmdq.stats.errors).toBe(1);
  });
});
