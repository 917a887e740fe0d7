import { it } from 'vitest';

it('the README example runs', async () => {
  await import('./readme.example.js');
}, 60_000);
