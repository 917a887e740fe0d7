/** The first ```ts block of README.md, and the example file's text, both trimmed. */
export declare function readmeExample(readmePath: string, examplePath: string): {
    readme: string;
    example: string;
};
//# sourceMappingURL=readme-example.d.ts.map