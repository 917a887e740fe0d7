import base, { vmmFormatOnly } from '../../eslint.config.mjs';

// The VMM may use a hw package's pure format codecs only, never its driver or hardware model. The README
// example builds a host (as the app layer does), so it is exempt, like it is from the layer rules.
export default [...base, { ...vmmFormatOnly, ignores: ['**/readme.example.ts'] }];
