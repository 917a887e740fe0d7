#!/usr/bin/env python3
# Writes a C program that prints sizeof/offsetof of every struct in a uAPI header as JSON.
# The JSON is the compiler's view of the kernel layout; codec tests compare against it.
# usage: python3 tools/uapi-layout.py <usr/include>/linux/iommufd.h > lay.c
#        gcc -isystem <usr/include> lay.c -o lay && ./lay > layout.json
import re, sys, json
hdr = sys.argv[1]
src = open(hdr).read()
src = re.sub(r'/\*.*?\*/', '', src, flags=re.S)
structs = {}
for m in re.finditer(r'^struct (\w+) \{(.*?)^\};', src, flags=re.S|re.M):
    name, body = m.group(1), m.group(2)
    fields = []
    # flatten: top-level fields; union members named; nested union anonymous
    depth = 0
    for line in body.split('\n'):
        line = line.strip()
        if not line: continue
        if line.startswith('union') or line.startswith('struct'):
            depth += 1; continue
        if line.startswith('}'):
            depth -= 1
            mm = re.match(r'\}\s*(\w+)?;', line)
            continue
        mm = re.match(r'(?:__u8|__u16|__u32|__s32|__u64|__aligned_u64|__aligned_le64|__le64|__u64\s+__aligned\(\d+\))\s+(\w+)(\[\w+\])?(?:\s+__counted_by\(\w+\))?;', line)
        if mm and depth == 0 or (mm and depth>0):
            fields.append(mm.group(1))
    structs[name] = fields
print('#include <stdio.h>\n#include <stddef.h>\n#include <linux/iommufd.h>')
print('#define F(s,f) printf("    \\"%s\\": [%zu, %zu],\\n", #f, offsetof(struct s, f), sizeof(((struct s*)0)->f));')
print('int main(void){ printf("{\\n");')
names = list(structs)
for i, n in enumerate(names):
    print(f'printf("  \\"{n}\\": {{\\"size\\": %zu, \\"fields\\": {{\\n", sizeof(struct {n}));')
    fs = structs[n]
    for j, f in enumerate(fs):
        print(f'F({n},{f})')
    print(f'printf("    \\"_\\": 0}}}}{"," if i < len(names)-1 else ""}\\n");')
print('printf("}\\n"); return 0; }')
