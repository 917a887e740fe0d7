import base, { vmmFormatOnly } from '../../eslint.config.mjs';

// The VMM may use a hw package's pure format codecs only, never its driver or hardware model.
export default [...base, vmmFormatOnly];
